import type { TaskResult } from '../pipeline/index.js';
import { isTruthy, type LoggingCommand, mayBecomeCommand, parseLoggingCommand } from '../pipeline/index.js';
import { MIN_SECRET_LENGTH, maskText } from '../shared/index.js';
import type { CoverageSummary, TestRunSummary } from '../tasks/index.js';
import type { LogStream } from './log-stream.js';

/** What logging commands change for the rest of the job, collected as steps run. */
export class JobState {
  /** Variables as later steps see them (set with `task.setvariable`). */
  readonly variables: Record<string, string>;
  /** Secret variables set at runtime: for `$(name)` macros and masking, never the environment. */
  readonly secretVariables: Record<string, string> = {};
  readonly readOnly = new Set<string>();
  /** Directories `task.prependpath` put in front of PATH, newest first. */
  readonly pathPrefixes: string[] = [];
  /** Output variables, `<step name>.<variable>`, for jobs that depend on this one. */
  readonly outputs: Record<string, string> = {};
  buildNumber?: string;
  readonly tags: string[] = [];
  /** Test runs published by the job's steps (PublishTestResults@2). */
  readonly testRuns: TestRunSummary[] = [];
  /** Coverage summaries published by the job's steps (PublishCodeCoverageResults@1/2). */
  readonly coverage: CoverageSummary[] = [];
  private readonly streams = new Set<LogStream>();

  constructor(
    variables: Record<string, string>,
    readonly secrets: string[],
  ) {
    this.variables = { ...variables };
  }

  /** Streams opened after this see every secret known by then; open ones learn new ones at once. */
  track(stream: LogStream): void {
    this.streams.add(stream);
  }

  /** Masks `value` from now on; the caller has checked that it is long enough (`isMaskable`). */
  addSecret(value: string): void {
    if (!isMaskable(value) || this.secrets.includes(value)) return;
    this.secrets.push(value);
    for (const s of this.streams) s.addSecret(value);
  }

  /**
   * `text` with every secret the job knows by now masked. Everything the job sends besides its
   * log goes through this (build number, tags, outputs, step names, reasons): the server stores
   * and shows those, and it does not know the secrets steps set at runtime.
   */
  mask(text: string): string {
    return maskText(text, this.secrets.filter(isMaskable));
  }

  /** Whether `text` gives a secret away in any form the log masker knows. */
  containsSecret(text: string): boolean {
    return this.mask(text) !== text;
  }
}

export interface StepIdentity {
  /** The step's `name:`, needed for output variables. */
  name?: string;
}

/** A step's result forced by `##vso[task.complete result=…]`. */
export type ForcedResult = Extract<TaskResult, 'succeeded' | 'succeededWithIssues' | 'failed'>;

/**
 * One step's output on its way to the log: whole lines are checked for logging commands, which
 * are applied to the job's state before the line is written (so a secret set with `isSecret` is
 * already masked in the very line that set it).
 */
export class StepOutput {
  private partial = '';
  forcedResult?: ForcedResult;
  /** Files `##vso[task.uploadfile]` asked to keep with the run, uploaded when the step ends. */
  readonly uploads: string[] = [];
  errors = 0;
  warnings = 0;

  constructor(
    private readonly out: LogStream,
    private readonly state: JobState,
    private readonly step: StepIdentity,
  ) {}

  write(text: string): void {
    const whole = this.partial + text;
    // Most output holds no logging command at all: it goes on whole, with no work per line.
    if (!whole.includes('##')) {
      const end = whole.lastIndexOf('\n') + 1;
      if (end > 0) this.out.write(whole.slice(0, end));
      this.partial = whole.slice(end);
      this.writePartial();
      return;
    }
    const lines = whole.split('\n');
    this.partial = lines.pop()!;
    // Lines that are not commands go to the log together, one write per chunk of output rather
    // than one per line (masking and framing cost per write; a job may print millions of lines).
    let plain = '';
    for (const line of lines) {
      if (!line.includes('##')) {
        plain += `${line}\n`;
        continue;
      }
      if (plain) this.out.write(plain);
      plain = '';
      this.line(`${line}\n`);
    }
    if (plain) this.out.write(plain);
    this.writePartial();
  }

  /** Ordinary partial output (a progress bar) goes out at once; a possible command waits for its end. */
  private writePartial(): void {
    if (this.partial && !mayBecomeCommand(this.partial)) {
      this.out.write(this.partial);
      this.partial = '';
    }
  }

  end(): void {
    if (this.partial) this.line(this.partial);
    this.partial = '';
  }

  private line(line: string): void {
    const command = parseLoggingCommand(line);
    if (!command) {
      this.out.write(line);
      return;
    }
    const note = this.apply(command);
    this.out.write(line);
    if (note) this.out.write(`##[warning]${note}\n`);
  }

  /** Applies a command; returns a warning to log when it was refused. */
  private apply(c: LoggingCommand): string | undefined {
    if (c.kind === 'format') {
      if (c.name === 'error') this.errors++;
      if (c.name === 'warning') this.warnings++;
      return undefined;
    }
    const key = `${c.area}.${c.action}`;
    const p = c.properties;
    switch (key) {
      case 'task.setvariable':
        return this.setVariable(p.variable, c.message, p);
      case 'task.prependpath':
        if (c.message.trim()) this.state.pathPrefixes.unshift(c.message.trim());
        return undefined;
      case 'task.logissue':
        if (p.type === 'error') this.errors++;
        else this.warnings++;
        this.out.write(`##[${p.type === 'error' ? 'error' : 'warning'}]${c.message}\n`);
        return undefined;
      case 'task.complete': {
        const result = (p.result ?? 'Succeeded').toLowerCase();
        if (result === 'failed') this.forcedResult = 'failed';
        else if (result === 'succeededwithissues') this.forcedResult = 'succeededWithIssues';
        else if (result === 'succeeded') this.forcedResult = 'succeeded';
        else return `task.complete: unknown result '${p.result}'`;
        return undefined;
      }
      case 'task.uploadfile':
        if (c.message.trim()) this.uploads.push(c.message.trim());
        return undefined;
      case 'build.updatebuildnumber':
        if (c.message.trim()) this.state.buildNumber = c.message.trim();
        return undefined;
      case 'build.addbuildtag':
        if (c.message.trim() && !this.state.tags.includes(c.message.trim()))
          this.state.tags.push(c.message.trim());
        return undefined;
      default:
        return `logging command '${key}' is not supported yet by Slipway; ignored`;
    }
  }

  private setVariable(
    name: string | undefined,
    value: string,
    p: Record<string, string>,
  ): string | undefined {
    if (!name) return 'task.setvariable needs variable=<name>';
    if (this.state.readOnly.has(name.toLowerCase())) return `variable '${name}' is read-only; not changed`;
    if (isTruthy(p.issecret)) {
      // Refused rather than kept unmasked: a script that prints it would show it in clear.
      if (value !== '' && !isMaskable(value))
        return `secret variable '${name}' is shorter than ${MIN_SECRET_LENGTH} characters and could not be masked; not set`;
      this.state.addSecret(value);
      this.state.secretVariables[name] = value;
      if (isTruthy(p.isoutput))
        return 'secret output variables are not supported yet by Slipway; kept in this job only';
    } else {
      this.state.variables[name] = value;
      if (isTruthy(p.isoutput)) {
        if (!this.step.name) return `output variable '${name}' needs the step to have a 'name:'`;
        this.state.outputs[`${this.step.name}.${name}`] = value;
        this.state.variables[`${this.step.name}.${name}`] = value;
      }
    }
    if (isTruthy(p.isreadonly)) this.state.readOnly.add(name.toLowerCase());
    return undefined;
  }
}

/** Secrets shorter than the masker's minimum cannot be masked (an empty one has nothing to mask). */
function isMaskable(value: string): boolean {
  return [...value].length >= MIN_SECRET_LENGTH;
}
