/** Base of every domain error: the name comes from the subclass, the cause is kept. */
export class SlipwayError extends Error {
  /**
   * What went wrong, as a stable word both ends of the wire know (`{ error: { code } }`): clients
   * branch on it, never on an HTTP status. Errors that never cross the wire have none (and leave
   * `code` free for a cause's errno, which the agent reads when it names a connection failure).
   */
  readonly code?: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Input the user gave is wrong: the CLI exits 2, the API answers 400. */
export class ValidationError extends SlipwayError {
  override readonly code: string = 'invalid_request';
}

/** A pipeline file is wrong at a known place; printed as `file:line:col: message`. */
export class PipelineError extends SlipwayError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly col: number,
    readonly detail: string,
  ) {
    super(`${file}:${line}:${col}: ${detail}`);
  }
}

/** Several pipeline errors at once, so a user fixes them in one pass. */
export class PipelineErrors extends SlipwayError {
  override readonly code: string = 'invalid_pipeline';
  constructor(readonly errors: PipelineError[]) {
    super(errors.map((e) => e.message).join('\n'));
  }
}

export class NotFoundError extends SlipwayError {
  override readonly code: string = 'not_found';
  constructor(
    readonly kind: string,
    readonly id: string,
  ) {
    super(`${kind} ${id} not found`);
  }
}

/** A credential is missing, unknown, expired or revoked. `reason` is safe to show. */
export class AuthError extends SlipwayError {
  override readonly code: string = 'unauthorized';
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** The credential is valid but may not do this. */
export class ForbiddenError extends SlipwayError {
  override readonly code: string = 'forbidden';
}

/** A compare-and-set lost, a stale lease epoch wrote, or a state transition is not allowed. */
export class ConflictError extends SlipwayError {
  override readonly code: string = 'conflict';
}

/** What was asked for existed once and is over (e.g. the job a fleet agent was started for). */
export class GoneError extends SlipwayError {
  override readonly code: string = 'gone';
}

/** Too many attempts from one source. */
export class RateLimitError extends SlipwayError {
  override readonly code: string = 'rate_limited';
}

// ── Conflicts an agent or fleet acts on: each its own code, so no client reads a bare 409 ──

/** Another agent claimed the job first, or it is no longer queued. */
export class ClaimLostError extends ConflictError {
  override readonly code = 'claim_lost';
  constructor(
    readonly jobId: string,
    message = `job ${jobId} is no longer queued`,
  ) {
    super(message);
  }
}

/** A newer session of the same agent took over; this one must stop. */
export class SessionReplacedError extends ConflictError {
  override readonly code = 'session_replaced';
  constructor(message = 'this session was replaced by a newer one') {
    super(message);
  }
}

/** The attempt (epoch) no longer holds the job's lease: its writes are fenced off. */
export class LeaseLostError extends ConflictError {
  override readonly code = 'lease_lost';
  constructor(
    readonly jobId: string,
    readonly epoch: number,
    message = `attempt ${epoch} of job ${jobId} no longer holds the lease`,
  ) {
    super(message);
  }
}

/** A log append starts past what is stored: the sender resends from `length`. */
export class LogGapError extends ConflictError {
  override readonly code = 'log_gap';
  constructor(
    readonly offset: number,
    readonly length: number,
  ) {
    super(`log offset ${offset} is past the stored length ${length}`);
  }
}

/** The job was completed already with another result. */
export class ResultConflictError extends ConflictError {
  override readonly code = 'result_conflict';
}

/** The agent runs a job, and may not take another or be removed until it ends. */
export class AgentBusyError extends ConflictError {
  override readonly code = 'agent_busy';
}

/** The HTTP status of each code's family; the one error→HTTP map reads it. */
export function httpStatusOf(err: SlipwayError): number {
  if (err instanceof PipelineErrors || err instanceof ValidationError) return 400;
  if (err instanceof AuthError) return 401;
  if (err instanceof ForbiddenError) return 403;
  if (err instanceof NotFoundError) return 404;
  if (err instanceof ConflictError) return 409;
  if (err instanceof GoneError) return 410;
  if (err instanceof RateLimitError) return 429;
  return 500;
}

export function assertNever(x: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(x)}`);
}

/**
 * The store cannot be reached or did not answer in time (a database down, a timeout): an
 * infrastructure error (the CLI exits 3). The message never holds the database URL.
 */
export class StoreUnavailableError extends SlipwayError {
  override readonly code: string = 'store_unavailable';
}
