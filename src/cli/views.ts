/**
 * What `slipway runs`, `status`, `agents` and `queue` print: pure functions of the API's
 * answers and the time now, so they are tested as text. Every name and reason a job or an
 * agent could set goes through `plain`, so no terminal sequence of theirs acts.
 */
import type { TaskResult } from '../pipeline/index.js';
import type { AgentView, FleetView, JobView, QueueView, RunView } from '../protocol/index.js';
import { formatDuration, ICON, plain } from './render.js';

/** Columns padded to their widest cell; the last one is left as it is. */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[line(head), ...rows.map(line)].join('\n')}\n`;
}

/** How long ago `iso` was, in one unit: `12s ago`, `5m ago`, `3h ago`, `2d ago`. */
export function ago(iso: string | null, now: number): string {
  if (iso === null) return '';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

/** A span in seconds as the run's summary writes it: `850ms`, `12.1s`, `3m4s`. */
export function span(seconds: number): string {
  return formatDuration(Math.round(seconds * 1000));
}

const shortBranch = (ref: string | undefined) => (ref ?? '').replace(/^refs\/heads\//, '');
const outcome = (status: string, result: TaskResult | null) => result ?? status;

/** Started (or queued) to finished, or to now while it goes on. */
function elapsed(from: string | null, to: string | null, now: number): string {
  if (from === null) return '';
  return formatDuration(Math.max(0, (to === null ? now : Date.parse(to)) - Date.parse(from)));
}

/** `slipway runs`: one line a run, newest first. */
export function runsTable(runs: RunView[], now: number): string {
  if (runs.length === 0) return 'no runs\n';
  const rows = runs.map((r) => [
    `#${r.number}`,
    outcome(r.status, r.result),
    plain(r.source.repository ?? r.pipelineFile),
    plain(shortBranch(r.source.branch)),
    r.rerunOf ? `${r.reason} (re-run of #${r.rerunOf.number})` : r.reason,
    r.durationSeconds === null ? elapsed(r.startedAt, null, now) : span(r.durationSeconds),
    ago(r.createdAt, now),
  ]);
  return table(['RUN', 'STATUS', 'PIPELINE', 'BRANCH', 'REASON', 'DURATION', 'CREATED'], rows);
}

const jobIcon = (j: JobView) =>
  j.result ? ICON[j.result] : j.status === 'running' ? '▶' : j.status === 'queued' ? '⧗' : '·';

/** `slipway status RUN`: the run, its jobs and their steps, with times and reasons. */
export function statusText(run: RunView, now: number): string {
  const origin = [
    plain(run.source.repository ?? run.pipelineFile),
    run.source.branch ? plain(shortBranch(run.source.branch)) : '',
    run.reason,
    run.rerunOf ? `re-run of #${run.rerunOf.number}${run.rerunOf.failedOnly ? ' (failed jobs)' : ''}` : '',
  ].filter(Boolean);
  const took = run.durationSeconds === null ? elapsed(run.startedAt, null, now) : span(run.durationSeconds);
  const lines = [
    `Run #${run.number} ${outcome(run.status, run.result)}${took ? ` in ${took}` : ''} · ${origin.join(' · ')}`,
    `created ${ago(run.createdAt, now)}${run.buildNumber !== String(run.number) ? ` · build ${plain(run.buildNumber)}` : ''}`,
  ];
  for (const j of run.jobs) {
    const time =
      j.status === 'queued'
        ? `waiting ${elapsed(j.queuedAt, null, now)}`
        : elapsed(j.startedAt, j.finishedAt, now);
    const agent = j.agentName ? ` on ${plain(j.agentName)}` : '';
    const attempt = j.attempt > 1 ? `, attempt ${j.attempt}` : '';
    const reason = j.reason ? ` — ${plain(j.reason)}` : '';
    lines.push(
      `${jobIcon(j)} ${plain(j.name)}  ${outcome(j.status, j.result)}${time ? `  ${time}` : ''}${agent}${attempt}${reason}`,
    );
    for (const s of j.steps) {
      const icon = s.result ? ICON[s.result] : s.state === 'running' ? '▸' : '·';
      const stepTime = elapsed(s.startedAt, s.finishedAt, now);
      const why = s.reason && s.result !== 'succeeded' ? ` (${plain(s.reason)})` : '';
      lines.push(`    ${icon} ${plain(s.name)}${stepTime ? `  ${stepTime}` : ''}${why}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** `slipway agents`: each agent with its state and job, then each fleet with its containers and scale events. */
export function agentsText(agents: AgentView[], fleets: FleetView[], now: number): string {
  const rows = agents.map((a) => [
    plain(a.name),
    plain(a.pool),
    a.state,
    a.currentJob ? `#${a.currentJob.runNumber} ${plain(a.currentJob.name)}` : '',
    plain(a.version ?? ''),
    ago(a.lastSeenAt, now),
  ]);
  let text =
    agents.length === 0
      ? 'no agents\n'
      : table(['AGENT', 'POOL', 'STATE', 'JOB', 'VERSION', 'LAST SEEN'], rows);
  for (const f of fleets) {
    const st = f.status;
    const head = `\nFleet ${plain(f.id)} (pool ${plain(f.pool)}${f.live ? '' : ', not seen lately'}, seen ${ago(f.lastSeenAt, now)})`;
    if (!st) {
      text += `${head}: it reports no containers (an older fleet)\n`;
      continue;
    }
    text += `${head}: ${st.containers} containers (${st.idle} idle, ${st.busy} busy, ${st.starting} starting), warm ${st.minIdle}, max ${st.max}${st.image ? `, image ${plain(st.image)}` : ''}\n`;
    if (st.warmImages && st.warmImages.length > 0) {
      const each = st.warmImages.map(
        (w) => `${plain(w.image)} (${w.idle} idle${w.starting > 0 ? `, ${w.starting} starting` : ''})`,
      );
      text += `  warm for recent images (${st.warmPerImage ?? 1} each): ${each.join(', ')}\n`;
    }
    for (const e of st.events.slice(-5)) {
      const job = e.jobId ? ` for job ${plain(e.jobId)}` : '';
      text += `  ${ago(e.at, now).padEnd(8)} ${e.kind} ${plain(e.agent)}${job}${e.detail ? `: ${plain(e.detail)}` : ''}\n`;
    }
  }
  return text;
}

/** `slipway queue`: each waiting job with why and how long, then jobs that nothing could serve. */
export function queueText(q: QueueView, now: number): string {
  let text =
    q.queued.length === 0
      ? 'nothing is queued\n'
      : table(
          ['RUN', 'JOB', 'POOL', 'WAITED', 'KIND', 'WHY'],
          q.queued.map((e) => [
            `#${e.runNumber}`,
            plain(e.jobName),
            plain(e.pool),
            formatDuration(e.waitedSeconds * 1000),
            e.kind,
            plain(e.reason ?? (e.kind === 'ready' ? 'an idle agent fits; being handed over' : '')),
          ]),
        );
  if (q.failed.length > 0) {
    text += '\nFailed without an agent (last 24 hours):\n';
    text += table(
      ['RUN', 'JOB', 'POOL', 'FAILED', 'WHY'],
      q.failed.map((f) => [
        `#${f.runNumber}`,
        plain(f.jobName),
        plain(f.pool),
        ago(f.failedAt, now),
        plain(f.reason ?? ''),
      ]),
    );
  }
  return text;
}
