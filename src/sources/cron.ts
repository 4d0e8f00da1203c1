/**
 * Five-field cron as Azure Pipelines' `schedules` write it, always in UTC: minute, hour, day of
 * month, month, day of week. Each field takes `*`, a value, a range `a-b`, a list `a,b`, and a
 * step `*​/n` or `a-b/n`; months and days take their English names too (`Jan`, `Mon-Fri`). Day of
 * week is 0–6 from Sunday (7 is Sunday too). As in cron, when both day fields are restricted a
 * day matching either one matches.
 */
export interface Cron {
  minutes: Set<number>;
  hours: Set<number>;
  days: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
  daysRestricted: boolean;
  weekdaysRestricted: boolean;
}

export class CronSyntaxError extends Error {}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: string[];
  /** Where the first name counts from (months from 1). */
  nameBase?: number;
}

const FIELDS: FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS, nameBase: 1 },
  { name: 'day of week', min: 0, max: 7, names: DAYS, nameBase: 0 },
];

export function parseCron(expression: string): Cron {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 5) {
    throw new CronSyntaxError(
      `'${expression}': a cron expression has five fields (minute hour day month weekday), not ${parts.length}`,
    );
  }
  const sets = parts.map((part, i) => parseField(part, FIELDS[i]!, expression));
  const weekdays = new Set([...sets[4]!].map((d) => (d === 7 ? 0 : d)));
  return {
    minutes: sets[0]!,
    hours: sets[1]!,
    days: sets[2]!,
    months: sets[3]!,
    weekdays,
    daysRestricted: parts[2] !== '*',
    weekdaysRestricted: parts[4] !== '*',
  };
}

function parseField(text: string, spec: FieldSpec, expression: string): Set<number> {
  const out = new Set<number>();
  const bad = (why: string) => new CronSyntaxError(`'${expression}': ${spec.name} '${text}': ${why}`);
  for (const item of text.split(',')) {
    const [range, stepText, extra] = item.split('/');
    if (extra !== undefined || range === undefined || range === '')
      throw bad('expected a value, range or step');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw bad(`the step '${stepText}' is not a positive number`);
    let lo: number;
    let hi: number;
    if (range === '*') {
      lo = spec.min;
      hi = spec.max === 7 ? 6 : spec.max;
    } else {
      const [a, b, more] = range.split('-');
      if (more !== undefined) throw bad('a range has two ends');
      lo = value(a!, spec, bad);
      hi = b === undefined ? (stepText === undefined ? lo : spec.max) : value(b, spec, bad);
      if (hi < lo) throw bad(`the range ends before it starts`);
    }
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

function value(text: string, spec: FieldSpec, bad: (why: string) => Error): number {
  const named = spec.names?.indexOf(text.toLowerCase().slice(0, 3)) ?? -1;
  if (named >= 0 && /^[a-z]+$/i.test(text)) return named + (spec.nameBase ?? 0);
  if (!/^\d+$/.test(text)) throw bad(`'${text}' is not a number${spec.names ? ' or a name' : ''}`);
  const n = Number(text);
  if (n < spec.min || n > spec.max) throw bad(`${n} is outside ${spec.min}-${spec.max}`);
  return n;
}

function dayMatches(cron: Cron, date: Date): boolean {
  if (!cron.months.has(date.getUTCMonth() + 1)) return false;
  const dom = cron.days.has(date.getUTCDate());
  const dow = cron.weekdays.has(date.getUTCDay());
  if (cron.daysRestricted && cron.weekdaysRestricted) return dom || dow;
  if (cron.daysRestricted) return dom;
  if (cron.weekdaysRestricted) return dow;
  return true;
}

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/** The latest time the schedule fires at or before `t` (ms), within the last ~4 years; undefined if none. */
export function lastSlotAtOrBefore(cron: Cron, t: number): number | undefined {
  const startOfDay = Math.floor(t / DAY) * DAY;
  const hours = [...cron.hours].sort((a, b) => b - a);
  const minutes = [...cron.minutes].sort((a, b) => b - a);
  for (let day = startOfDay, n = 0; n < 1500; day -= DAY, n++) {
    if (!dayMatches(cron, new Date(day))) continue;
    for (const h of hours) {
      for (const m of minutes) {
        const slot = day + h * 60 * MINUTE + m * MINUTE;
        if (slot <= t) return slot;
      }
    }
  }
  return undefined;
}

/** The first time the schedule fires after `t` (ms); undefined if none within ~4 years. */
export function nextSlotAfter(cron: Cron, t: number): number | undefined {
  const startOfDay = Math.floor(t / DAY) * DAY;
  const hours = [...cron.hours].sort((a, b) => a - b);
  const minutes = [...cron.minutes].sort((a, b) => a - b);
  for (let day = startOfDay, n = 0; n < 1500; day += DAY, n++) {
    if (!dayMatches(cron, new Date(day))) continue;
    for (const h of hours) {
      for (const m of minutes) {
        const slot = day + h * 60 * MINUTE + m * MINUTE;
        if (slot > t) return slot;
      }
    }
  }
  return undefined;
}
