import type { QueueView } from '../../../protocol/schemas.js';
import { api } from '../api.js';
import { h, redraw } from '../dom.js';
import { afterLabel, ago, duration } from '../format.js';
import { every, type Page } from './page.js';

const KINDS: Record<string, string> = {
  ready: 'Starting',
  waiting: 'Waiting',
  unserved: 'Not served',
  impossible: 'Cannot run',
};

/** Every queued job with why it waits and for how long; and jobs that could never run. */
export const queuePage: Page = async (ctx) => {
  ctx.title('Queue');
  const body = h('div', {});
  const draw = (q: QueueView) => {
    const queued = q.queued.length
      ? h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'queue' },
            h('caption', { class: 'visually-hidden' }, 'Queued jobs, oldest first'),
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ['Job', 'Run', 'Pool', 'Demands', 'Why it waits', 'Waiting for'].map((c) =>
                  h('th', { scope: 'col' }, c),
                ),
              ),
            ),
            h(
              'tbody',
              {},
              q.queued.map((e) =>
                h(
                  'tr',
                  { class: `kind-${e.kind}` },
                  h(
                    'td',
                    {},
                    h(
                      'a',
                      { href: `/runs/${e.runNumber}/jobs/${encodeURIComponent(e.jobName)}` },
                      e.displayName,
                    ),
                  ),
                  h('td', {}, h('a', { href: `/runs/${e.runNumber}` }, `#${e.runNumber}`)),
                  h('td', {}, e.pool),
                  h(
                    'td',
                    {},
                    e.demands.length
                      ? e.demands.map((d) => h('code', { class: 'demand' }, d))
                      : h('span', { class: 'muted' }, 'none'),
                  ),
                  h(
                    'td',
                    {},
                    h('span', { class: `kind kind-${e.kind}` }, KINDS[e.kind] ?? e.kind),
                    e.reason
                      ? h('span', { class: 'reason' }, ` ${afterLabel(KINDS[e.kind], e.reason)}`)
                      : null,
                  ),
                  h(
                    'td',
                    {},
                    h('time', { datetime: e.queuedAt, title: e.queuedAt }, duration(e.waitedSeconds * 1000)),
                  ),
                ),
              ),
            ),
          ),
        )
      : h('p', { class: 'empty' }, 'Nothing is waiting.');
    const failed = q.failed.length
      ? h(
          'ul',
          { class: 'failed-jobs' },
          q.failed.map((f) =>
            h(
              'li',
              {},
              h(
                'a',
                { href: `/runs/${f.runNumber}/jobs/${encodeURIComponent(f.jobName)}` },
                `${f.jobName} (#${f.runNumber})`,
              ),
              ` in pool ${f.pool}, `,
              h('time', { datetime: f.failedAt, title: f.failedAt }, ago(f.failedAt)),
              f.reason ? `: ${f.reason}` : '',
            ),
          ),
        )
      : h('p', { class: 'empty' }, 'None in the last 24 hours.');
    redraw(body, queued, h('h2', {}, 'Jobs that could not run'), failed);
  };
  const load = () => api<QueueView>('queue', { signal: ctx.signal });
  draw(await load());
  every(2000, ctx.signal, async () => draw(await load()));
  return h('section', { 'aria-labelledby': 'queue-title' }, h('h1', { id: 'queue-title' }, 'Queue'), body);
};
