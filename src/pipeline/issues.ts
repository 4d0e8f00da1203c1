import { PipelineError } from '../shared/errors.js';
import type { SourcePos } from './types.js';

/** More errors than this are summed up in one last error: nobody reads the 10,000th. */
export const MAX_REPORTED_ERRORS = 100;

/**
 * Collects every problem found in a pipeline and the templates it includes, so the user can fix
 * them all in one pass. A position names its template file in `pos.file`; without one it is in
 * the pipeline file itself.
 */
export class Issues {
  // Plain records until the end: an Error captures a stack trace, which is slow by the thousand.
  private readonly found: Array<{ file: string; pos: SourcePos; detail: string }> = [];
  private readonly seen = new Set<string>();
  private readonly foundNotes: Array<{ file: string; pos: SourcePos; detail: string }> = [];
  private readonly noted = new Set<string>();
  /** Files in the order they were first reported on, the pipeline file first. */
  private readonly fileOrder: Map<string, number>;

  constructor(readonly file: string) {
    this.fileOrder = new Map([[file, 0]]);
  }

  add(pos: SourcePos, detail: string): void {
    const file = pos.file ?? this.file;
    // The same template or matrix leg read twice finds the same problem twice; say it once.
    const key = `${file}\0${pos.line}\0${pos.col}\0${detail}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    if (!this.fileOrder.has(file)) this.fileOrder.set(file, this.fileOrder.size);
    this.found.push({ file, pos, detail });
  }

  /** Something worth knowing that is no error (what the server will decide, say). */
  note(pos: SourcePos, detail: string): void {
    const file = pos.file ?? this.file;
    const key = `${file}\0${pos.line}\0${pos.col}\0${detail}`;
    if (this.noted.has(key)) return;
    this.noted.add(key);
    this.foundNotes.push({ file, pos, detail });
  }

  /** Notes in reading order, at most MAX_REPORTED_ERRORS of them. */
  notes(): PipelineError[] {
    return [...this.foundNotes]
      .sort((a, b) => a.file.localeCompare(b.file) || a.pos.line - b.pos.line || a.pos.col - b.pos.col)
      .slice(0, MAX_REPORTED_ERRORS)
      .map(({ file, pos, detail }) => new PipelineError(file, pos.line, pos.col, detail));
  }

  get count(): number {
    return this.found.length;
  }

  /** Errors in reading order, file by file, whatever pass (keys, graph) found them. */
  sorted(): PipelineError[] {
    const order = (file: string) => this.fileOrder.get(file) ?? 0;
    const ordered = [...this.found].sort(
      (a, b) => order(a.file) - order(b.file) || a.pos.line - b.pos.line || a.pos.col - b.pos.col,
    );
    const errors = ordered
      .slice(0, MAX_REPORTED_ERRORS)
      .map(({ file, pos, detail }) => new PipelineError(file, pos.line, pos.col, detail));
    const next = ordered[MAX_REPORTED_ERRORS];
    if (next !== undefined) {
      const more = ordered.length - MAX_REPORTED_ERRORS;
      errors.push(new PipelineError(next.file, next.pos.line, next.pos.col, `${more} more errors not shown`));
    }
    return errors;
  }
}

export const FILE_START: SourcePos = { line: 1, col: 1 };

/** The first position of a file: the pipeline's own when `file` is undefined. */
export function fileStart(file?: string): SourcePos {
  return file === undefined ? FILE_START : { line: 1, col: 1, file };
}
