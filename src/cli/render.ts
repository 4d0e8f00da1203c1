import type { TaskResult } from '../pipeline/index.js';
import { type FormatName, parseLoggingCommand } from '../pipeline/index.js';
import type { RunEvent, RunView } from '../protocol/index.js';
import { assertNever } from '../shared/errors.js';
import { hasSpecialCharacters, visibleTerminalText } from '../shared/terminal-text.js';

export const useColor = process.stdout.isTTY === true && !process.env.NO_COLOR;
/** A job's log text: its colours kept (unless NO_COLOR), every other control sequence made visible. */
const logText = (s: string) => visibleTerminalText(s, { colors: !process.env.NO_COLOR });
/** Names, reasons, build numbers, tags: a job can set some of them, so no sequence of theirs acts. */
export const plain = (s: string | null | undefined) =>
  visibleTerminalText(String(s ?? ''), { colors: false });
const paint = (code: string) => (s: string) => (useColor ? `\x1b[${code}m${s}\x1b[0m` : s);
export const dim = paint('2');
const green = paint('32');
const red = paint('31');
const yellow = paint('33');
const bold = paint('1');

export const ICON: Record<TaskResult, string> = {
  succeeded: green('✔'),
  succeededWithIssues: yellow('!'),
  failed: red('✘'),
  canceled: yellow('⊘'),
  skipped: dim('-'),
};

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
}

/** Anything but printable ASCII, tab and newline: such a chunk is decoded and shown with care. */
const NOT_PLAIN_ASCII = /[^\x09\x0a\x20-\x7e]/;

/**
 * Turns the run's event feed into what a person watches: jobs and steps as they start and end
 * with their durations, and log text as it arrives (prefixed by job when jobs run side by side).
 */
export class RunRenderer {
  private readonly started = new Map<string, number>();
  private readonly partial = new Map<string, string>();

  constructor(
    private readonly write: (s: string) => void,
    private readonly multiJob: boolean,
    /** Where log text goes as bytes, when it can be passed on as it came; default: through `write`. */
    private readonly writeBytes?: (b: Uint8Array) => void,
  ) {}

  /** Takes one event; `bytes` are a log event's bytes as the server sent them, when at hand. */
  event(e: RunEvent, bytes?: Buffer): void {
    const at = Date.parse(e.at);
    const job = e.jobName ?? '';
    switch (e.kind) {
      case 'run':
        if (e.data.status === 'completed') this.flushAll();
        return;
      case 'job':
        this.job(e, at);
        return;
      case 'step': {
        const d = e.data;
        const key = `step:${e.jobId}:${e.step}`;
        const prefix = this.multiJob ? `${plain(job)} ` : '';
        if (d.status === 'running') {
          this.started.set(key, at);
          this.write(`  ${prefix}${bold('▸')} ${plain(d.name)}\n`);
        } else {
          this.flush(e);
          const began = this.started.get(key);
          const took = began === undefined ? '' : dim(`  ${formatDuration(at - began)}`);
          const reason = d.reason && d.result !== 'succeeded' ? dim(` (${plain(d.reason)})`) : '';
          this.write(`  ${prefix}${d.result ? ICON[d.result] : '?'} ${plain(d.name)}${took}${reason}\n`);
        }
        return;
      }
      case 'log':
        if (!(bytes && this.writeBytes && this.logBytes(e, bytes))) this.log(e, e.data.text);
        return;
      default:
        assertNever(e);
    }
  }

  private job(e: Extract<RunEvent, { kind: 'job' }>, at: number): void {
    const job = e.jobName ?? '';
    const d = e.data;
    switch (d.status) {
      case 'queued':
        if (d.retry) {
          this.flush(e);
          this.write(`${yellow('↻')} ${bold(plain(job))} ${dim(`${plain(d.reason)}; queued again`)}\n`);
        }
        return;
      case 'waiting':
        this.write(`${dim('⧗')} ${bold(plain(job))} ${dim(plain(d.reason))}\n`);
        return;
      case 'running':
        this.started.set(`job:${e.jobId}`, at);
        this.write(
          `${bold(`▶ ${plain(job)}`)}${dim(` on ${plain(d.agent)}${e.attempt && e.attempt > 1 ? `, attempt ${e.attempt}` : ''}`)}\n`,
        );
        return;
      case 'completed': {
        this.flush(e);
        const began = this.started.get(`job:${e.jobId}`);
        const took = began === undefined ? '' : dim(`  ${formatDuration(at - began)}`);
        const reason = d.reason ? dim(` — ${plain(d.reason)}`) : '';
        this.write(`${ICON[d.result]} ${bold(plain(job))} ${plain(d.result)}${took}${reason}\n`);
        return;
      }
      default:
        assertNever(d);
    }
  }

  private log(e: RunEvent, text: string): void {
    const key = `${e.jobId}:${e.step}`;
    const whole = (this.partial.get(key) ?? '') + text;
    const end = whole.lastIndexOf('\n');
    this.partial.set(key, whole.slice(end + 1));
    if (end < 0) return;
    const lines = whole.slice(0, end);
    // One write per chunk of log, not one per line: a job printing 100 MB is a million lines.
    // Most chunks are plain text (no logging command, no control character): those lines are
    // shown as they are behind the prefix, put in by one native replace instead of a loop.
    if (e.step !== -1 && !lines.includes('##') && !hasSpecialCharacters(lines)) {
      const prefix = `  ${this.prefix(e)}`;
      this.write(`${prefix}${lines.replaceAll('\n', `\n${prefix.replaceAll('$', '$$$$')}`)}\n`);
      return;
    }
    let out = '';
    for (const line of lines.split('\n')) out += this.line(e, line);
    if (out !== '') this.write(out);
  }

  /**
   * The common chunk of log — printable ASCII lines, no logging command, a step's — shown without
   * ever becoming a string of characters: one-byte (latin1) strings stand for its bytes, the
   * prefix goes in by one native replace, and the bytes go out as they are. Anything else (a
   * control character, any byte past ASCII, `##`) answers false, for the path that decodes it.
   */
  private logBytes(e: RunEvent, bytes: Buffer): boolean {
    if (e.step === -1) return false;
    const key = `${e.jobId}:${e.step}`;
    const chunk = bytes.toString('latin1');
    // The line held back from the chunk before is checked too: it ends in this one.
    const whole = (this.partial.get(key) ?? '') + chunk;
    if (NOT_PLAIN_ASCII.test(whole) || whole.includes('##')) return false;
    const end = whole.lastIndexOf('\n');
    // Plain ASCII reads the same as bytes and as text: the held-back part is text as usual.
    this.partial.set(key, whole.slice(end + 1));
    if (end < 0) return true;
    const prefix = Buffer.from(`  ${this.prefix(e)}`).toString('latin1');
    const lines = whole.slice(0, end);
    this.writeBytes!(
      Buffer.from(`${prefix}${lines.replaceAll('\n', `\n${prefix.replaceAll('$', '$$$$')}`)}\n`, 'latin1'),
    );
    return true;
  }

  private prefix(e: RunEvent): string {
    return this.multiJob ? dim(`${plain(e.jobName)} │ `) : dim('│ ');
  }

  /** The line as shown, with its newline; empty when it is not shown. */
  private line(e: RunEvent, line: string): string {
    const show = (text: string) => `  ${this.prefix(e)}${text}\n`;
    // Every logging command starts with `##`: most lines need no parsing at all.
    const command = line.includes('##') ? parseLoggingCommand(line) : null;
    if (command?.kind === 'vso') return ''; // applied by the agent; the stored log keeps it
    if (command?.kind === 'format') {
      const text = formatLine(command.name, plain(command.message));
      return text === null ? '' : show(text);
    }
    return show(e.step === -1 ? dim(plain(line)) : logText(line));
  }

  private flush(e: RunEvent): void {
    for (const [key, rest] of this.partial) {
      if (!key.startsWith(`${e.jobId}:`) || rest === '') continue;
      const out = this.line({ ...e, step: Number(key.split(':')[1]) }, rest);
      if (out !== '') this.write(out);
      this.partial.set(key, '');
    }
  }

  private flushAll(): void {
    for (const [key, rest] of this.partial) {
      if (rest) this.write(`  ${logText(rest)}\n`);
      this.partial.set(key, '');
    }
  }
}

/** How the CLI shows `##[group]`, `##[warning]`, …; null hides the line. */
function formatLine(name: FormatName, message: string): string | null {
  switch (name) {
    case 'section':
    case 'endgroup':
      return null;
    case 'group':
      return bold(`▾ ${message}`);
    case 'error':
      return red(`error: ${message}`);
    case 'warning':
      return yellow(`warning: ${message}`);
    case 'debug':
      return dim(`debug: ${message}`);
    case 'command':
      return dim(`$ ${message}`);
    default:
      return assertNever(name);
  }
}

/**
 * The table after a run. A reason is kept to one line and cut to fit `columns` (the job's line
 * above the table shows it whole), so a long or multi-line one cannot break the table.
 */
export function summaryTable(run: RunView, columns = process.stdout.columns || 120): string {
  const rows = run.jobs.map((j) => {
    const took =
      j.startedAt && j.finishedAt ? formatDuration(Date.parse(j.finishedAt) - Date.parse(j.startedAt)) : '';
    return [
      j.name,
      j.result ?? j.status,
      took,
      j.agentName ?? '',
      (j.reason ?? '').replace(/\s+/g, ' ').trim(),
    ].map(plain);
  });
  const head = ['JOB', 'RESULT', 'TIME', 'AGENT', 'REASON'];
  const left = head.slice(0, -1).map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)) + 2);
  const room = Math.max(20, columns - 1 - left.reduce((a, b) => a + b, 0));
  for (const r of rows) if (r[4]!.length > room) r[4] = `${r[4]!.slice(0, room - 1)}…`;
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const total = run.finishedAt ? formatDuration(Date.parse(run.finishedAt) - Date.parse(run.createdAt)) : '';
  const icon = run.result ? ICON[run.result] : '?';
  return [
    '',
    bold(fmt(head)),
    ...rows.map(fmt),
    '',
    `${icon} ${bold(`Run #${run.number} ${run.result ?? run.status}`)}${total ? dim(` in ${total}`) : ''}${
      run.buildNumber !== String(run.number) ? dim(` · build ${plain(run.buildNumber)}`) : ''
    }${run.tags.length ? dim(` · tags: ${plain(run.tags.join(', '))}`) : ''}`,
    '',
  ].join('\n');
}
