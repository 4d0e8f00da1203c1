import { resolve } from 'node:path';
import { parsePipeline, sourceVariables } from '../../pipeline/index.js';
import { type ApiClient, ConnectionError, type RunView, withRetry } from '../../protocol/index.js';
import { packWorkspace } from '../../shared/workspace-archive.js';
import { type ClientSettings, resolveClient } from '../client-config.js';
import { CliError, EXIT } from '../exit-codes.js';
import { LiveRunView, LiveTerminal } from '../live-view.js';
import { findPipeline, runSourceOf } from '../pipeline-file.js';
import { dim, RunRenderer, summaryTable, useColor } from '../render.js';
import { withTaskCatalog } from '../task-catalog.js';
import { coverageSummary, testSummary } from '../test-summary.js';

export interface RunCommandOptions extends ClientSettings {
  pipeline?: string;
  dir: string;
  vars: Record<string, string>;
  secrets: Record<string, string>;
  /** Values for the pipeline's `parameters`. */
  params: Record<string, string>;
  /** Queue the run as untrusted (`--untrusted`): no trusted run reads the caches it saves. */
  untrusted?: boolean;
  /** A task Slipway does not have becomes a failing step instead of refusing the run. Default false. */
  allowUnsupportedTasks?: boolean;
  out: (s: string) => void;
  /** Where log bytes go when they can be passed on as they came; default: as text through `out`. */
  outBytes?: (b: Uint8Array) => void;
  /**
   * Draw a live view (spinners, durations, why a job waits) instead of plain lines: for a
   * terminal, not for CI logs or pipes. Default false.
   */
  live?: { columns: () => number; rows: () => number };
}

/** `slipway run`: queue a run of the pipeline with DIR as its workspace, follow it, exit by its result. */
export async function runCommand(o: RunCommandOptions): Promise<number> {
  const dir = resolve(o.dir);
  // The workspace is packed and its git facts read while the pipeline is read and checked: the
  // git processes run meanwhile instead of one after another. Nothing leaves before the check.
  const packing = packWorkspace(dir);
  packing.catch(() => undefined); // its error, if any, is thrown where it is awaited
  const sourcing = runSourceOf(dir);
  const pipeline = await findPipeline({ given: o.pipeline, dir });
  const { text: content, name: shown, readTemplate } = pipeline;
  const source = await sourcing;
  // The server compiles with the same source variables; they decide conditional includes too.
  const variables = { ...sourceVariables(source), ...o.vars };
  const allowUnsupportedTasks = o.allowUnsupportedTasks ?? false;
  // Invalid input exits 2 before anything is queued.
  // The templates the server needs are the files this parse reads (path → text), taken as they
  // are read instead of compiling the pipeline a second time to list them.
  const templates: Record<string, string> = {};
  const readFile = (path: string) => {
    const text = readTemplate(path);
    if (text !== undefined) templates[path] = text;
    return text;
  };
  const plan = await withTaskCatalog((tasks) =>
    parsePipeline(content, shown, {
      readFile,
      parameters: o.params,
      variables,
      tasks,
      allowUnsupportedTasks,
    }),
  );
  for (const [name, value] of Object.entries(o.secrets)) {
    if (value.length < 4)
      throw new CliError(
        `secret '${name}' is shorter than 4 characters; it could not be masked reliably`,
        EXIT.invalid,
      );
  }
  const { client, token, url } = resolveClient(o);

  const archive = await packing;
  const uploaded = await client.uploadWorkspace(archive, { token, timeoutMs: 300_000 });
  // From here on a stop signal cancels the run, even one that comes before the run exists.
  const stop = new StopSignals();
  try {
    const created = await client.createRun(
      {
        pipeline: { file: shown, content },
        workspaceId: uploaded.id,
        variables: o.vars,
        secrets: o.secrets,
        parameters: o.params,
        templates,
        source,
        untrusted: o.untrusted ?? false,
        ...(allowUnsupportedTasks ? { allowUnsupportedTasks } : {}),
      },
      { token },
    );
    o.out(
      `${dim(`Run #${created.number} of ${shown} queued on ${url} (workspace ${formatBytes(uploaded.size)})`)}\n`,
    );
    const triggers = Object.keys(plan.triggers ?? {});
    if (triggers.length > 0) {
      o.out(`${dim(`${triggers.join(', ')}: kept with the pipeline; not applicable to a local run`)}\n`);
    }
    return await follow(client, token, created, plan.jobs.length > 1, o.out, stop, o.live, o.outBytes);
  } finally {
    stop.dispose();
  }
}

/** Signals that mean "stop": Ctrl-C, `kill`, a closed terminal or a CI runner's cancel. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Traps the stop signals while a run is queued and followed: the first one goes to the
 * `onStop` callback (kept until there is one), a second one leaves at once.
 */
export class StopSignals {
  #count = 0;
  #pending?: NodeJS.Signals;
  #onStop?: (signal: NodeJS.Signals) => void;
  readonly #handler = (signal: NodeJS.Signals) => {
    this.#count++;
    if (this.#count > 1) process.exit(EXIT.runFailed);
    if (this.#onStop) this.#onStop(signal);
    else this.#pending = signal;
  };

  constructor() {
    for (const signal of STOP_SIGNALS) process.on(signal, this.#handler);
  }

  /** Calls `fn` on the first stop signal; at once if it came already. */
  onStop(fn: (signal: NodeJS.Signals) => void): void {
    this.#onStop = fn;
    if (this.#pending) fn(this.#pending);
  }

  dispose(): void {
    for (const signal of STOP_SIGNALS) process.off(signal, this.#handler);
  }
}

/**
 * Follows the run's feed until it completes. The first stop signal (Ctrl-C, SIGTERM, SIGHUP)
 * asks the server to cancel the run (and keeps showing it stop); a second one leaves at once.
 * A lost connection is retried.
 */
export async function follow(
  client: ApiClient,
  token: string,
  run: RunView,
  multiJob: boolean,
  out: (s: string) => void,
  stop: StopSignals,
  live?: RunCommandOptions['live'],
  outBytes?: RunCommandOptions['outBytes'],
) {
  const terminal = live
    ? new LiveTerminal(new LiveRunView({ color: useColor }), out, () => ({
        columns: live.columns(),
        rows: live.rows(),
      }))
    : undefined;
  const renderer = terminal ?? new RunRenderer(out, multiJob, outBytes);
  const note = (line: string) => (terminal ? terminal.note(line) : out(`${line}\n`));
  terminal?.start();
  stop.onStop((signal) => {
    const again = signal === 'SIGINT' ? 'Ctrl-C' : signal;
    note(dim(`Canceling the run (${again} again to leave without waiting)…`));
    void client.cancelRun(run.id, { token }).catch(() => undefined);
  });
  try {
    // The raw feed: log text arrives as the bytes the agent sent, never inside JSON. A page ends
    // within the server's wait; a cut connection is asked again from the last event received.
    let after = 0;
    for (let done = false; !done; ) {
      await withRetry(
        async () => {
          for await (const item of client.runFeed(run.id, after, { token })) {
            if ('event' in item) {
              renderer.event(item.event, item.bytes);
              after = item.event.seq;
            } else {
              after = item.next;
              done = item.done;
            }
          }
        },
        {
          deadlineMs: 5 * 60_000,
          // Once per outage, not once per attempt.
          onRetry: (_err, attempt) => {
            if (attempt === 1) note(dim('connection lost; reconnecting…'));
          },
        },
      );
    }
    terminal?.stop();
    const final = await client.getRun(run.id, { token });
    out(summaryTable(final));
    out(testSummary(final));
    out(coverageSummary(final));
    return final.result === 'succeeded' || final.result === 'succeededWithIssues' ? EXIT.ok : EXIT.runFailed;
  } catch (err) {
    terminal?.stop();
    if (err instanceof ConnectionError)
      throw new CliError(`${err.message} (the run goes on: #${run.number})`, EXIT.infrastructure);
    throw err;
  }
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
