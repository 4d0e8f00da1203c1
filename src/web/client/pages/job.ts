import type { JobView, RunView } from '../../../protocol/schemas.js';
import { followFeed, getRun } from '../api.js';
import { h, redraw } from '../dom.js';
import { span, stateIcon, stateLabel, stateOf } from '../format.js';
import { LogModel } from '../log-model.js';
import { LogView } from '../log-view.js';
import type { Page } from './page.js';
import { trackWaiting, type WaitReasons } from './run.js';
import { badge } from './runs.js';

/** A job: its steps and its log, streamed while it runs. */
export const jobPage: Page = async (ctx) => {
  let run = await getRun(ctx.params[0]!, ctx.signal);
  const name = ctx.params[1]!;
  const find = (r: RunView) => r.jobs.find((j) => j.name === name);
  let job = find(run);
  if (!job) throw new Error(`run #${run.number} has no job named ${name}`);
  const attempt = job.attempt;
  const model = new LogModel();
  const view = new LogView(model, {
    downloadHref: `/api/v1/jobs/${encodeURIComponent(job.id)}/log?attempt=${attempt}`,
    downloadName: `run-${run.number}-${job.name}.log`,
  });
  const waiting: WaitReasons = new Map();
  const head = h('div', { class: 'job-head' });
  const steps = h('ol', { class: 'steps', 'aria-label': 'Steps' });

  const draw = () => {
    const j = job!;
    ctx.title(`${j.displayName} · run #${run.number}`);
    const why = waiting.get(j.name);
    redraw(
      head,
      h(
        'p',
        { class: 'crumbs' },
        h('a', { href: '/runs' }, 'Runs'),
        ' / ',
        h('a', { href: `/runs/${run.number}` }, `Run #${run.number}`),
        ' / ',
      ),
      h('h1', {}, j.displayName, ' ', badge(stateOf(j))),
      h(
        'p',
        { class: 'muted' },
        j.agentName ? `on ${j.agentName}` : '',
        j.attempt > 1 ? ` · attempt ${j.attempt}` : '',
        j.startedAt ? ` · ${span(j.startedAt, j.finishedAt)}` : '',
        j.status === 'completed' && j.reason ? ` · ${j.reason}` : '',
      ),
      why ? h('p', { class: 'waiting-note', role: 'status' }, `Waiting: ${why}`) : null,
    );
    const first = model.firstLines();
    redraw(
      steps,
      j.steps.map((s) => {
        const state = s.state === 'completed' ? (s.result ?? 'completed') : s.state;
        const line = first.get(s.index);
        const label = [
          h('span', { class: `step-icon state-${state}`, 'aria-hidden': 'true' }, stateIcon(state)),
          ' ',
          s.name,
        ];
        return h(
          'li',
          { class: `state-${state}` },
          line !== undefined ? h('a', { href: `#L${line + 1}` }, label) : h('span', {}, label),
          h('span', { class: 'muted' }, ` ${stateLabel(state)} ${span(s.startedAt, s.finishedAt)}`),
          s.reason ? h('span', { class: 'muted' }, ` · ${s.reason}`) : null,
        );
      }),
    );
  };
  draw();

  const selectFromHash = () => {
    const m = /^#L(\d+)$/.exec(location.hash);
    if (m) view.select(Number(m[1]) - 1);
  };
  let selected = false;
  window.addEventListener('hashchange', selectFromHash, { signal: ctx.signal });

  let refreshing: ReturnType<typeof setTimeout> | undefined;
  const refresh = () => {
    clearTimeout(refreshing);
    refreshing = setTimeout(async () => {
      try {
        run = await getRun(run.id, ctx.signal);
        job = find(run) ?? job;
        draw();
      } catch {
        // Next event tries again.
      }
    }, 150);
  };
  const mine = (e: { jobId: string | null; attempt: number | null }) =>
    e.jobId === (job as JobView).id && (e.attempt === null || e.attempt === attempt);
  void followFeed(
    run.id,
    (page) => {
      let logged = false;
      let news = false;
      for (const e of page.events) {
        if (!mine(e)) continue;
        if (e.kind === 'log') {
          model.append(e.data.text, e.step ?? -1);
          logged = true;
        } else news = true;
      }
      if (trackWaiting(waiting, page.events.filter(mine))) news = true;
      if (logged) view.update();
      if (news || (logged && steps.querySelector('a') === null)) refresh();
      // An anchor in the address is shown once its line has arrived.
      if (!selected && /^#L\d+$/.test(location.hash) && model.length >= Number(location.hash.slice(2))) {
        selected = true;
        selectFromHash();
      }
      if (page.done) document.body.dataset.logDone = 'true';
    },
    ctx.signal,
  );
  document.body.dataset.logDone = 'false';

  return h(
    'article',
    { class: 'job' },
    head,
    h(
      'div',
      { class: 'job-body' },
      h('nav', { class: 'steps-nav', 'aria-label': 'Steps' }, steps),
      view.element,
    ),
  );
};
