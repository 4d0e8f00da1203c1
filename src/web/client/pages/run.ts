import type { JobView, RunEvent, RunView } from '../../../protocol/schemas.js';
import { api, followFeed, getRun } from '../api.js';
import { h, redraw, svg } from '../dom.js';
import { ago, branchName, duration, span, stateIcon, stateLabel, stateOf } from '../format.js';
import { layoutGraph } from '../graph.js';
import { canWrite, every, type Page, type PageContext } from './page.js';
import { badge } from './runs.js';

/** Why each waiting job of a run waits, from its feed (`job` events with status `waiting`). */
export type WaitReasons = Map<string, string>;

export function trackWaiting(reasons: WaitReasons, events: RunEvent[]): boolean {
  let changed = false;
  for (const e of events) {
    if (e.kind !== 'job' || !e.jobName) continue;
    changed = true;
    if (e.data.status === 'waiting') reasons.set(e.jobName, e.data.reason);
    else reasons.delete(e.jobName);
  }
  return changed;
}

/** A run: what it is, its jobs as a graph and a timeline, its actions; live until it ends. */
export const runPage: Page = async (ctx) => {
  let run = await getRun(ctx.params[0]!, ctx.signal);
  const waiting: WaitReasons = new Map();
  const status = h('p', { class: 'status-line', role: 'status', 'aria-live': 'polite' });
  const head = h('div', { class: 'run-head' });
  const graph = h('div', { class: 'graph-wrap' });
  const timeline = h('div', { class: 'timeline' });

  const draw = () => {
    ctx.title(`Run #${run.number}`);
    redraw(head, runHeader(run, ctx, status));
    redraw(graph, drawGraph(run, waiting));
    redraw(timeline, drawTimeline(run, waiting));
  };
  draw();

  let refreshing: ReturnType<typeof setTimeout> | undefined;
  const refresh = () => {
    clearTimeout(refreshing);
    refreshing = setTimeout(async () => {
      try {
        run = await getRun(run.id, ctx.signal);
        draw();
      } catch {
        // The feed or the timer brings it next time.
      }
    }, 150);
  };
  void followFeed(
    run.id,
    (page) => {
      const news = page.events.some((e) => e.kind !== 'log');
      if (trackWaiting(waiting, page.events) || news) refresh();
    },
    ctx.signal,
  );
  // Durations of what is running grow without events.
  every(1000, ctx.signal, () => {
    if (run.status !== 'completed') redraw(timeline, drawTimeline(run, waiting));
  });

  return h(
    'article',
    { class: 'run', 'aria-labelledby': 'run-title' },
    head,
    status,
    h('h2', {}, 'Jobs'),
    graph,
    h('h2', {}, 'Timeline'),
    timeline,
  );
};

function runHeader(run: RunView, ctx: PageContext, status: HTMLElement): HTMLElement[] {
  const state = stateOf(run);
  const act = async (label: string, path: string, body?: unknown) => {
    status.textContent = `${label}…`;
    try {
      const answer = await api<RunView>(path, { method: 'POST', body: body ?? {} });
      if (answer.id !== run.id) ctx.navigate(`/runs/${answer.number}`);
      else status.textContent = `${label}: done.`;
    } catch (err) {
      status.textContent = `${label} refused: ${err instanceof Error ? err.message : String(err)}`;
    }
  };
  const writable = canWrite(ctx.session);
  const actions = h('div', { class: 'actions' });
  if (writable && run.status !== 'completed') {
    actions.append(
      h(
        'button',
        { type: 'button', class: 'danger', on: { click: () => act('Cancel', `runs/${run.id}/cancel`) } },
        'Cancel run',
      ),
    );
  }
  if (writable && run.status === 'completed') {
    actions.append(
      h(
        'button',
        { type: 'button', on: { click: () => act('Re-run', `runs/${run.id}/rerun`, { failedOnly: false }) } },
        'Re-run',
      ),
    );
    if (run.result === 'failed' || run.result === 'canceled') {
      actions.append(
        h(
          'button',
          {
            type: 'button',
            on: { click: () => act('Re-run failed jobs', `runs/${run.id}/rerun`, { failedOnly: true }) },
          },
          'Re-run failed jobs',
        ),
      );
    }
  }
  const facts: [string, HTMLElement | string][] = [
    ['Pipeline', run.pipelineFile],
    ['Reason', run.reason],
    ['Queued', h('time', { datetime: run.createdAt, title: run.createdAt }, ago(run.createdAt))],
    ['Duration', span(run.createdAt, run.finishedAt)],
  ];
  if (run.source.repository) facts.unshift(['Repository', run.source.repository]);
  if (run.source.branch) facts.push(['Branch', branchName(run.source.branch)]);
  if (run.source.commit) facts.push(['Commit', h('code', {}, run.source.commit.slice(0, 12))]);
  if (run.untrusted) facts.push(['Trust', 'untrusted (writes no shared cache)']);
  const rerun = (run as RunView & { rerunOf?: { number: number; failedOnly: boolean } | null }).rerunOf;
  if (rerun) {
    facts.push([
      'Re-run of',
      h(
        'a',
        { href: `/runs/${rerun.number}` },
        `#${rerun.number}${rerun.failedOnly ? ' (failed jobs)' : ''}`,
      ),
    ]);
  }
  return [
    h('p', { class: 'crumbs' }, h('a', { href: '/runs' }, 'Runs'), ' / '),
    h(
      'div',
      { class: 'title-row' },
      h(
        'h1',
        { id: 'run-title' },
        `Run #${run.number}`,
        run.buildNumber !== String(run.number) ? ` · ${run.buildNumber}` : '',
        ' ',
        badge(state),
      ),
      actions,
    ),
    h(
      'dl',
      { class: 'facts' },
      facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
    ),
  ];
}

const BOX_W = 200;
const BOX_H = 56;
const COL_GAP = 56;
const ROW_GAP = 16;
const PAD = 8;

/** The jobs as boxes in dependency columns with arrows between them; each box links to its job. */
function drawGraph(run: RunView, waiting: WaitReasons): Element {
  const layout = layoutGraph(run.jobs);
  const width = layout.columns * BOX_W + Math.max(0, layout.columns - 1) * COL_GAP + PAD * 2;
  const height = layout.rows * BOX_H + Math.max(0, layout.rows - 1) * ROW_GAP + PAD * 2;
  const x = (c: number) => PAD + c * (BOX_W + COL_GAP);
  const y = (r: number) => PAD + r * (BOX_H + ROW_GAP);
  const edges = layout.edges.map(([from, to]) => {
    const a = layout.placed[from]!;
    const b = layout.placed[to]!;
    const x1 = x(a.column) + BOX_W;
    const y1 = y(a.row) + BOX_H / 2;
    const x2 = x(b.column);
    const y2 = y(b.row) + BOX_H / 2;
    const mid = (x1 + x2) / 2;
    return svg('path', { class: 'edge', d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}` });
  });
  const boxes = layout.placed.map(({ job, column, row }) => {
    const state = stateOf(job);
    const why = waiting.get(job.name);
    const time = why ? 'waiting' : job.startedAt ? span(job.startedAt, job.finishedAt) : stateLabel(state);
    // Jobs of a stage are named `<stage>.<job>`: the stage is said beside the time.
    const stage = job.name.includes('.') ? job.name.slice(0, job.name.indexOf('.')) : '';
    const detail = stage ? `${stage} · ${time}` : time;
    const label = `${job.displayName}: ${stateLabel(state)}${why ? `, waiting: ${why}` : ''}`;
    return svg(
      'a',
      { href: jobHref(run, job), class: `job-box state-${state}`, 'aria-label': label },
      svg('title', {}, label),
      svg('rect', { x: x(column), y: y(row), width: BOX_W, height: BOX_H, rx: 6 }),
      svg(
        'text',
        { x: x(column) + 12, y: y(row) + 23, class: 'job-name' },
        `${stateIcon(state)} ${clip(job.displayName, 22)}`,
      ),
      svg('text', { x: x(column) + 12, y: y(row) + 43, class: 'job-detail' }, clip(detail, 28)),
    );
  });
  const picture = svg(
    'svg',
    {
      class: 'graph',
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
      role: 'group',
      'aria-label': 'Jobs and their dependencies',
    },
    edges,
    boxes,
  );
  const reasons = [...waiting].map(([name, why]) => h('li', {}, h('strong', {}, name), ' waits: ', why));
  return h(
    'div',
    {},
    h('div', { class: 'graph-scroll' }, picture),
    reasons.length ? h('ul', { class: 'waiting' }, reasons) : null,
  );
}

/** Each job's time in the queue and running, on one scale from the run's start to its end (or now). */
function drawTimeline(run: RunView, waiting: WaitReasons): HTMLElement {
  const t0 = Date.parse(run.createdAt);
  const ends = run.jobs.map((j) => (j.finishedAt ? Date.parse(j.finishedAt) : Date.now()));
  const t1 = Math.max(run.finishedAt ? Date.parse(run.finishedAt) : Date.now(), ...ends, t0 + 1000);
  const pct = (t: number) => `${(((t - t0) / (t1 - t0)) * 100).toFixed(2)}%`;
  const rows = run.jobs.map((job) => {
    const state = stateOf(job);
    const track = h('div', { class: 'track' });
    const queued = job.queuedAt ? Date.parse(job.queuedAt) : undefined;
    const started = job.startedAt ? Date.parse(job.startedAt) : undefined;
    const finished = job.finishedAt ? Date.parse(job.finishedAt) : Date.now();
    if (queued !== undefined) {
      const bar = h('span', { class: 'bar queued' });
      bar.style.left = pct(queued);
      bar.style.width = pct((started ?? finished) - queued + t0);
      track.append(bar);
    }
    if (started !== undefined) {
      const bar = h('span', { class: `bar state-${state}` });
      bar.style.left = pct(started);
      bar.style.width = pct(finished - started + t0);
      track.append(bar);
    }
    const why = waiting.get(job.name);
    const text = started
      ? `${stateLabel(state)} ${span(job.startedAt, job.finishedAt)}${queued ? `, queued ${duration(started - queued)}` : ''}`
      : why
        ? `waiting: ${why}`
        : stateLabel(state);
    return h(
      'li',
      {},
      h('a', { class: 'tl-name', href: jobHref(run, job) }, job.displayName),
      track,
      h('span', { class: 'tl-text' }, text),
    );
  });
  return h(
    'div',
    {},
    h('ol', { class: 'tl-rows', 'aria-label': 'Timeline of the jobs' }, rows),
    h('p', { class: 'muted tl-scale' }, `0 — ${duration(t1 - t0)}`),
  );
}

export function jobHref(run: RunView, job: JobView): string {
  return `/runs/${run.number}/jobs/${encodeURIComponent(job.name)}`;
}

function clip(text: string, n: number): string {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}
