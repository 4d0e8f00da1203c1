/** Seconds in each unit a duration is written with: `90s`, `10m`, `12h`, `30d`. */
export const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;
export type DurationUnit = keyof typeof UNIT_SECONDS;

/** The largest unit that states `seconds` exactly: 3600 → `1h`, 90 → `90s`. */
export function formatSeconds(seconds: number): string {
  for (const unit of ['d', 'h', 'm'] as const) {
    if (seconds % UNIT_SECONDS[unit] === 0) return `${seconds / UNIT_SECONDS[unit]}${unit}`;
  }
  return `${seconds}s`;
}
