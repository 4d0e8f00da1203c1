import { ZodError } from 'zod';
import { answerDetail, answeredStatus, ConnectionError } from '../protocol/index.js';
import { DataDirInUseError } from '../shared/data-dir.js';
import { PipelineError, PipelineErrors, ValidationError } from '../shared/errors.js';

/** The CLI's exit codes are part of its contract (DESIGN.md). */
export const EXIT = { ok: 0, runFailed: 1, invalid: 2, infrastructure: 3 } as const;

/** An error the CLI reports in one line and exits with `code`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof CliError) return err.code;
  if (err instanceof PipelineErrors || err instanceof PipelineError || err instanceof ValidationError)
    return EXIT.invalid;
  if (err instanceof ZodError || err instanceof DataDirInUseError) return EXIT.invalid;
  const status = answeredStatus(err);
  if (status !== undefined) return status >= 500 ? EXIT.infrastructure : EXIT.invalid;
  if (err instanceof ConnectionError) return EXIT.infrastructure;
  return EXIT.infrastructure;
}

export function describeError(err: unknown): string {
  const detail = answerDetail(err);
  if (detail !== undefined) return detail;
  if (err instanceof ZodError) return err.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n');
  return (err as Error).message ?? String(err);
}
