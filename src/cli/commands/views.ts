import {
  type ApiClient,
  type JobView,
  type RunEvent,
  type RunListStatus,
  type RunView,
  runListStatus,
  withRetry,
} from '../../protocol/index.js';
import { visibleTerminalText } from '../../shared/terminal-text.js';
import { type ClientSettings, resolveClient } from '../client-config.js';
import { CliError, EXIT } from '../exit-codes.js';
import { plain } from '../render.js';
import { coverageSummary } from '../test-summary.js';
import { agentsText, queueText, runsTable, statusText } from '../views.js';

type Out = (s: string) => void;

/** What every view command takes: where the server is, where to write, whether to write JSON. */
export interface ViewOptions extends ClientSettings {
  out: Out;
  json?: boolean;
  /** Output goes to a terminal: log text is made safe to show (its colours kept unless NO_COLOR). */
  tty?: boolean;
}

const json = (o: ViewOptions, value: unknown) => o.out(`${JSON.stringify(value, null, 2)}\n`);

/** A whole number flag, named in the error when it is not one. */
function count(flag: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new CliError(`${flag}: expected a whole number of at least ${min}, got '${value}'`, EXIT.invalid);
  }
  return n;
}

/** `slipway runs [--limit N] [--before N] [--status S] [--search TEXT]`. */
export async function runsCommand(
  o: ViewOptions & { limit?: string; before?: string; status?: string; search?: string },
): Promise<number> {
  let status: RunListStatus | undefined;
  if (o.status !== undefined) {
    const parsed = runListStatus.safeParse(o.status);
    if (!parsed.success) {
      throw new CliError(
        `--status: expected one of ${runListStatus.options.join(', ')}, got '${o.status}'`,
        EXIT.invalid,
      );
    }
    status = parsed.data;
  }
  const query = {
    limit: count('--limit', o.limit, 1) ?? 20,
    before: count('--before', o.before, 1),
    status,
    q: o.search?.trim() || undefined,
  };
  const { client, token } = resolveClient(o);
  const runs = await client.listRuns(query, { token });
  if (o.json) json(o, runs);
  else o.out(runsTable(runs, Date.now()));
  return EXIT.ok;
}

/** `slipway status RUN`: the run's jobs and steps. */
export async function statusCommand(o: ViewOptions & { run: string }): Promise<number> {
  const { client, token } = resolveClient(o);
  const run = await client.getRun(o.run, { token });
  if (o.json) json(o, run);
  else o.out(statusText(run, Date.now()) + coverageSummary(run));
  return EXIT.ok;
}

/** `slipway agents [--pool P]`: agents by state, then the fleets and what they run. */
export async function agentsCommand(o: ViewOptions & { pool?: string }): Promise<number> {
  const { client, token } = resolveClient(o);
  const [agents, fleets] = await Promise.all([
    client.listAgents(o.pool, { token }),
    client.listFleets(o.pool, { token }),
  ]);
  if (o.json) json(o, { agents, fleets });
  else o.out(agentsText(agents, fleets, Date.now()));
  return EXIT.ok;
}

/** `slipway queue [--pool P]`: why each queued job waits. */
export async function queueCommand(o: ViewOptions & { pool?: string }): Promise<number> {
  const { client, token } = resolveClient(o);
  const queue = await client.queue(o.pool, { token });
  if (o.json) json(o, queue);
  else o.out(queueText(queue, Date.now()));
  return EXIT.ok;
}

/** `slipway rerun RUN [--failed]`: queues the run again; prints the new run's number. */
export async function rerunCommand(o: ViewOptions & { run: string; failed?: boolean }): Promise<number> {
  const { client, token } = resolveClient(o);
  const run = await client.rerun(o.run, { failedOnly: o.failed === true }, { token });
  if (o.json) {
    json(o, run);
    return EXIT.ok;
  }
  const again = run.jobs.filter((j) => !j.reason?.startsWith('kept from run '));
  const which = o.failed ? ` (only ${again.map((j) => plain(j.name)).join(', ')}; the others kept)` : '';
  o.out(`Run #${run.number} queued: a re-run of #${run.rerunOf?.number ?? o.run}${which}\n`);
  return EXIT.ok;
}

/**
 * `slipway logs RUN [JOB] [--follow]`: the log of one job or of every job of the run. With
 * `--follow`, what is logged from now on too, until the run ends; it then exits by the run's
 * result, as `slipway run` does.
 */
export async function logsCommand(
  o: ViewOptions & { run: string; job?: string; follow?: boolean },
): Promise<number> {
  const { client, token } = resolveClient(o);
  const run = await client.getRun(o.run, { token });
  const jobs = o.job === undefined ? run.jobs : [findJob(run, o.job)];
  const show = (text: string) =>
    o.tty ? visibleTerminalText(text, { colors: !process.env.NO_COLOR }) : text;
  if (o.follow) return followLogs(client, token, run, jobs, o, show);
  for (const job of jobs) {
    if (job.attempt === 0) {
      if (o.json) o.out(`${JSON.stringify({ job: job.name, jobId: job.id, attempt: 0, log: '' })}\n`);
      else if (jobs.length > 1) o.out(`── ${plain(job.name)}: not started (${job.status}) ──\n`);
      continue;
    }
    if (!o.json && jobs.length > 1) o.out(`── ${plain(job.name)} (attempt ${job.attempt}) ──\n`);
    let log = '';
    for await (const piece of client.jobLog(job.id, {}, { token })) {
      if (o.json) log += piece;
      else o.out(show(piece));
    }
    if (o.json) o.out(`${JSON.stringify({ job: job.name, jobId: job.id, attempt: job.attempt, log })}\n`);
  }
  return EXIT.ok;
}

/** The job named `name` (or with that id or display name) of `run`; a clear error naming the others. */
function findJob(run: RunView, name: string): JobView {
  const wanted = name.toLowerCase();
  const job =
    run.jobs.find((j) => j.id === name || j.name.toLowerCase() === wanted) ??
    run.jobs.find((j) => j.displayName.toLowerCase() === wanted);
  if (!job) {
    throw new CliError(
      `run #${run.number} has no job '${plain(name)}'; its jobs: ${run.jobs.map((j) => plain(j.name)).join(', ')}`,
      EXIT.invalid,
    );
  }
  return job;
}

/** Follows the run's feed from its start, writing the chosen jobs' log text, until the run ends. */
async function followLogs(
  client: ApiClient,
  token: string,
  run: RunView,
  jobs: JobView[],
  o: ViewOptions,
  show: (text: string) => string,
): Promise<number> {
  const ids = new Set(jobs.map((j) => j.id));
  const prefixed = jobs.length > 1;
  const partial = new Map<string, string>();
  const write = (e: RunEvent & { kind: 'log' }) => {
    if (o.json) {
      o.out(
        `${JSON.stringify({ job: e.jobName, jobId: e.jobId, attempt: e.attempt, step: e.step, text: e.data.text, at: e.at })}\n`,
      );
      return;
    }
    if (!prefixed) {
      o.out(show(e.data.text));
      return;
    }
    // Jobs side by side: whole lines only, each with its job's name.
    const lines = `${partial.get(e.jobId!) ?? ''}${e.data.text}`.split('\n');
    partial.set(e.jobId!, lines.pop()!);
    for (const line of lines) o.out(`${plain(e.jobName)} │ ${show(line)}\n`);
  };
  // The raw feed, page by page; a cut connection is asked again from the last event received.
  let after = 0;
  for (let done = false; !done; ) {
    await withRetry(
      async () => {
        for await (const item of client.runFeed(run.id, after, { token })) {
          if ('next' in item) {
            after = item.next;
            done = item.done;
            continue;
          }
          const e = item.event;
          if (e.kind === 'log' && e.jobId && ids.has(e.jobId)) write(e);
          after = e.seq;
        }
      },
      { deadlineMs: 5 * 60_000 },
    );
  }
  if (!o.json) {
    for (const [jobId, rest] of partial) {
      if (rest) o.out(`${plain(jobs.find((j) => j.id === jobId)?.name)} │ ${show(rest)}\n`);
    }
  }
  const final = await client.getRun(run.id, { token });
  return final.result === 'succeeded' || final.result === 'succeededWithIssues' ? EXIT.ok : EXIT.runFailed;
}
