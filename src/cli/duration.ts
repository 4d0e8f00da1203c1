import { formatSeconds, UNIT_SECONDS, type DurationUnit as Unit } from '../shared/duration.js';
import { CliError, EXIT } from './exit-codes.js';

export { formatSeconds };

export interface DurationLimits {
  /** Unit of a bare number (`30` with unit `d` is 30 days). */
  unit: Unit;
  /** Shortest and longest accepted, in seconds. */
  minSeconds: number;
  maxSeconds: number;
}

/** A duration flag like `90s`, `10m`, `1h` or `30d`, in whole seconds, checked against `limits`. */
export function parseDuration(flag: string, text: string, limits: DurationLimits): number {
  const m = /^(\d+)\s*([smhd])?$/.exec(text.trim());
  if (!m) {
    throw new CliError(`${flag} '${text}': expected a duration such as 90s, 10m, 1h or 30d`, EXIT.invalid);
  }
  const seconds = Number(m[1]) * UNIT_SECONDS[(m[2] as Unit | undefined) ?? limits.unit];
  if (seconds < limits.minSeconds || seconds > limits.maxSeconds) {
    throw new CliError(
      `${flag} '${text}': must be between ${formatSeconds(limits.minSeconds)} and ${formatSeconds(limits.maxSeconds)}`,
      EXIT.invalid,
    );
  }
  return seconds;
}
