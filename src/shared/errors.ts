/** Base of every domain error: the name comes from the subclass, the cause is kept. */
export class SlipwayError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Input the user gave is wrong: the CLI exits 2, the API answers 400. */
export class ValidationError extends SlipwayError {}

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
  constructor(readonly errors: PipelineError[]) {
    super(errors.map((e) => e.message).join('\n'));
  }
}

export class NotFoundError extends SlipwayError {
  constructor(
    readonly kind: string,
    readonly id: string,
  ) {
    super(`${kind} ${id} not found`);
  }
}

/** A credential is missing, unknown, expired or revoked. `reason` is safe to show. */
export class AuthError extends SlipwayError {
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** The credential is valid but may not do this. */
export class ForbiddenError extends SlipwayError {}

/** A compare-and-set lost, a stale lease epoch wrote, or a state transition is not allowed. */
export class ConflictError extends SlipwayError {}

/** What was asked for existed once and is over (e.g. the job a fleet agent was started for). */
export class GoneError extends SlipwayError {}

/** Too many attempts from one source. */
export class RateLimitError extends SlipwayError {}

export function assertNever(x: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(x)}`);
}
