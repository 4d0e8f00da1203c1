import { PipelineError } from '../shared/errors.js';
import type { SourcePos } from './types.js';

/** More errors than this are summed up in one last error: nobody reads the 10,000th. */
export const MAX_REPORTED_ERRORS = 100;

/** Collects every problem found in one file, so the user can fix them all in one pass. */
export class Issues {
  // Plain records until the end: an Error captures a stack trace, which is slow by the thousand.
  private readonly found: Array<{ pos: SourcePos; detail: string }> = [];

  constructor(readonly file: string) {}

  add(pos: SourcePos, detail: string): void {
    this.found.push({ pos, detail });
  }

  /** Errors in reading order, whatever pass (keys, graph) found them. */
  sorted(): PipelineError[] {
    const ordered = [...this.found].sort((a, b) => a.pos.line - b.pos.line || a.pos.col - b.pos.col);
    const errors = ordered
      .slice(0, MAX_REPORTED_ERRORS)
      .map(({ pos, detail }) => new PipelineError(this.file, pos.line, pos.col, detail));
    const next = ordered[MAX_REPORTED_ERRORS];
    if (next !== undefined) {
      const more = ordered.length - MAX_REPORTED_ERRORS;
      errors.push(new PipelineError(this.file, next.pos.line, next.pos.col, `${more} more errors not shown`));
    }
    return errors;
  }
}

export const FILE_START: SourcePos = { line: 1, col: 1 };
