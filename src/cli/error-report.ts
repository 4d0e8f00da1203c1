// Loaded only when a command fails: it pulls in zod and the protocol client, which a command
// such as `slipway --version` never needs.
import { ZodError } from 'zod';
import { answerDetail, answeredStatus, ConnectionError } from '../protocol/index.js';
import { DataDirInUseError } from '../shared/data-dir.js';
import { PipelineError, PipelineErrors, ValidationError } from '../shared/errors.js';
import { CliError, EXIT } from './exit-codes.js';

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
