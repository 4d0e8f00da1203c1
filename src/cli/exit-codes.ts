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
