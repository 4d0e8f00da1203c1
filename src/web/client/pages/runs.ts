import type { RunView } from '../../../protocol/schemas.js';
import { api } from '../api.js';
import { h, redraw, replace } from '../dom.js';
import { ago, branchName, duration, runTitle, span, stateIcon, stateLabel, stateOf } from '../format.js';
import { every, type Page } from './page.js';

/** Runs shown per page. */
export const RUNS_PAGE = 100;

const STATUSES = ['queued', 'running', 'succeeded', 'failed', 'canceled', 'succeededWithIssues'];

/** The runs list: newest first, filtered by status and text, refreshed while it is open. */
export const runsPage: Page = async (ctx) => {
  ctx.title('Runs');
  const status = ctx.query.get('status') ?? '';
  const q = ctx.query.get('q') ?? '';
  const before = ctx.query.get('before') ?? '';
  const load = () => {
    const params = new URLSearchParams({ limit: String(RUNS_PAGE) });
    if (status) params.set('status', status);
    if (q) params.set('q', q);
    if (before) params.set('before', before);
    return api<RunView[]>(`runs?${params}`, { signal: ctx.signal });
  };

  const statusSelect = h(
    'select',
    { id: 'filter-status', name: 'status' },
    h('option', { value: '' }, 'Any status'),
    STATUSES.map((s) => h('option', { value: s, selected: s === status }, stateLabel(s))),
  );
  const text = h('input', {
    id: 'filter-q',
    name: 'q',
    type: 'search',
    value: q,
    placeholder: 'pipeline, repository, branch, number',
  });
  const filters = h(
    'form',
    {
      class: 'filters',
      role: 'search',
      'aria-label': 'Filter runs',
      on: {
        submit: (e) => {
          e.preventDefault();
          const p = new URLSearchParams();
          if (statusSelect.value) p.set('status', statusSelect.value);
          if (text.value.trim()) p.set('q', text.value.trim());
          ctx.navigate(`/runs${p.size ? `?${p}` : ''}`);
        },
      },
    },
    h('label', { for: 'filter-status' }, 'Status'),
    statusSelect,
    h('label', { for: 'filter-q' }, 'Search'),
    text,
    h('button', { type: 'submit' }, 'Filter'),
  );
  statusSelect.addEventListener('change', () => filters.requestSubmit());

  const body = h('div', { class: 'runs-body' });
  let last = '';
  const draw = (runs: RunView[]) => {
    const json = JSON.stringify(runs);
    if (json === last) return;
    last = json;
    if (runs.length === 0) {
      replace(body, h('p', { class: 'empty' }, status || q ? 'No run matches.' : 'No runs yet.'));
      return;
    }
    const older = runs.length === RUNS_PAGE ? runs.at(-1)!.number : undefined;
    const pageLink = (b: number) => {
      const p = new URLSearchParams(ctx.query);
      p.set('before', String(b));
      return `/runs?${p}`;
    };
    redraw(
      body,
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'runs' },
          h('caption', { class: 'visually-hidden' }, 'Runs, newest first'),
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ['Status', 'Run', 'Pipeline', 'Branch', 'Reason', 'Duration', 'Queued'].map((c) =>
                h('th', { scope: 'col' }, c),
              ),
            ),
          ),
          h('tbody', {}, runs.map(row)),
        ),
      ),
      h(
        'p',
        { class: 'paging' },
        before ? h('a', { href: `/runs${pageQuery(ctx.query)}` }, '← Newest') : null,
        older !== undefined ? h('a', { href: pageLink(older) }, 'Older →') : null,
      ),
    );
  };
  draw(await load());
  // The first page follows what happens; an older page stays as it was.
  if (!before) every(4000, ctx.signal, async () => draw(await load()));

  return h(
    'section',
    { 'aria-labelledby': 'runs-title' },
    h('h1', { id: 'runs-title' }, 'Runs'),
    filters,
    body,
  );
};

function row(run: RunView): HTMLElement {
  const state = stateOf(run);
  const extra = run as RunView & { durationSeconds?: number | null; startedAt?: string | null };
  const took =
    typeof extra.durationSeconds === 'number'
      ? duration(extra.durationSeconds * 1000)
      : run.status === 'completed'
        ? span(run.createdAt, run.finishedAt)
        : // Still going: how long so far (the list redraws every few seconds).
          span(run.createdAt, null);
  return h(
    'tr',
    { class: `state-${state}` },
    h('td', {}, badge(state)),
    h(
      'td',
      {},
      h('a', { href: `/runs/${run.number}` }, `#${run.number}`),
      ' ',
      h('span', { class: 'muted' }, run.buildNumber === String(run.number) ? '' : run.buildNumber),
    ),
    h('td', {}, runTitle(run)),
    h(
      'td',
      {},
      run.source.branch
        ? branchName(run.source.branch)
        : // A run of a local directory (`slipway run`) has no branch.
          h('span', { class: 'muted', title: 'a local directory, not a repository' }, 'local'),
    ),
    h('td', {}, run.reason),
    h('td', {}, took),
    h('td', {}, h('time', { datetime: run.createdAt, title: run.createdAt }, ago(run.createdAt))),
  );
}

export function badge(state: string): HTMLElement {
  return h(
    'span',
    { class: `badge state-${state}` },
    h('span', { 'aria-hidden': 'true' }, stateIcon(state)),
    ' ',
    stateLabel(state),
  );
}

function pageQuery(query: URLSearchParams): string {
  const p = new URLSearchParams(query);
  p.delete('before');
  return p.size ? `?${p}` : '';
}
