import type { AgentView, FleetView, PoolView } from '../../../protocol/schemas.js';
import { api } from '../api.js';
import { h, redraw } from '../dom.js';
import { ago } from '../format.js';
import { every, type Page } from './page.js';

/** Pools, their agents (state, current job, version, last seen, capabilities) and fleets. */
export const agentsPage: Page = async (ctx) => {
  ctx.title('Agents');
  const body = h('div', {});
  const load = async () => {
    const [pools, agents, fleets] = await Promise.all([
      api<PoolView[]>('pools', { signal: ctx.signal }),
      api<AgentView[]>('agents', { signal: ctx.signal }),
      api<FleetView[]>('fleets', { signal: ctx.signal }),
    ]);
    redraw(
      body,
      ...pools.map((p) =>
        poolSection(
          p,
          agents.filter((a) => a.pool === p.name),
          fleets.filter((f) => f.pool === p.name),
        ),
      ),
    );
  };
  await load();
  every(3000, ctx.signal, load);
  return h(
    'section',
    { 'aria-labelledby': 'agents-title' },
    h('h1', { id: 'agents-title' }, 'Pools and agents'),
    body,
  );
};

function poolSection(pool: PoolView, agents: AgentView[], fleets: FleetView[]): HTMLElement {
  return h(
    'section',
    { class: 'pool', 'aria-labelledby': `pool-${pool.name}` },
    h('h2', { id: `pool-${pool.name}` }, `Pool ${pool.name}`),
    h(
      'p',
      { class: 'muted' },
      `${pool.agents.online} online · ${pool.agents.busy} busy · ${pool.agents.offline} offline · ${pool.queued} queued`,
    ),
    fleets.map(fleetBlock),
    agents.length
      ? h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'agents' },
            h('caption', { class: 'visually-hidden' }, `Agents of pool ${pool.name}`),
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ['Agent', 'State', 'Current job', 'Version', 'Last seen', 'Capabilities'].map((c) =>
                  h('th', { scope: 'col' }, c),
                ),
              ),
            ),
            h('tbody', {}, agents.map(agentRow)),
          ),
        )
      : h('p', { class: 'empty' }, 'No agents registered.'),
  );
}

function agentRow(a: AgentView): HTMLElement {
  const caps = Object.entries(a.capabilities);
  return h(
    'tr',
    {},
    h('td', {}, a.name),
    h('td', {}, h('span', { class: `agent-state agent-${a.state}` }, a.state)),
    h(
      'td',
      {},
      a.currentJob
        ? h(
            'a',
            { href: `/runs/${a.currentJob.runNumber}/jobs/${encodeURIComponent(a.currentJob.name)}` },
            `${a.currentJob.name} (#${a.currentJob.runNumber})`,
          )
        : '',
    ),
    h('td', {}, a.version ?? ''),
    h(
      'td',
      {},
      a.lastSeenAt ? h('time', { datetime: a.lastSeenAt, title: a.lastSeenAt }, ago(a.lastSeenAt)) : '',
    ),
    h(
      'td',
      {},
      caps.length
        ? h(
            'details',
            {},
            h('summary', {}, `${caps.length} capabilities`),
            h(
              'dl',
              { class: 'caps' },
              caps.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
            ),
          )
        : '',
    ),
  );
}

function fleetBlock(f: FleetView): HTMLElement {
  const s = f.status;
  return h(
    'div',
    { class: 'fleet' },
    h(
      'h3',
      {},
      `Fleet ${f.id}`,
      ' ',
      h('span', { class: f.live ? 'live' : 'muted' }, f.live ? 'live' : `last seen ${ago(f.lastSeenAt)}`),
    ),
    s
      ? h(
          'p',
          {},
          `${s.containers} containers (${s.starting} starting, ${s.idle} idle, ${s.busy} busy) · warm ${s.minIdle} · max ${s.max}`,
          s.image ? ` · image ${s.image}` : '',
        )
      : h('p', { class: 'muted' }, 'No status reported yet.'),
    s?.events.length
      ? h(
          'details',
          {},
          h('summary', {}, 'Recent scale events'),
          h(
            'ol',
            { class: 'scale-events' },
            [...s.events]
              .reverse()
              .map((e) =>
                h(
                  'li',
                  {},
                  h('time', { datetime: e.at, title: e.at }, ago(e.at)),
                  ` ${e.kind} ${e.agent}`,
                  e.detail ? `: ${e.detail}` : '',
                ),
              ),
          ),
        )
      : null,
  );
}
