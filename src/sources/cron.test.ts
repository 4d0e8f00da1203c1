import { describe, expect, it } from 'vitest';
import { CronSyntaxError, lastSlotAtOrBefore, nextSlotAfter, parseCron } from './cron.js';

const at = (iso: string) => Date.parse(iso);
const iso = (t: number | undefined) => (t === undefined ? undefined : new Date(t).toISOString());

describe('cron (UTC, five fields, Azure syntax)', () => {
  it.each([
    // expression, now, latest slot at or before now, next slot after now
    ['0 3 * * *', '2026-03-10T12:00:00Z', '2026-03-10T03:00:00.000Z', '2026-03-11T03:00:00.000Z'],
    ['0 3 * * *', '2026-03-10T03:00:00Z', '2026-03-10T03:00:00.000Z', '2026-03-11T03:00:00.000Z'],
    ['*/15 * * * *', '2026-03-10T12:07:30Z', '2026-03-10T12:00:00.000Z', '2026-03-10T12:15:00.000Z'],
    ['30 9-17/4 * * *', '2026-03-10T14:00:00Z', '2026-03-10T13:30:00.000Z', '2026-03-10T17:30:00.000Z'],
    ['0 0 * * Mon-Fri', '2026-03-08T10:00:00Z', '2026-03-06T00:00:00.000Z', '2026-03-09T00:00:00.000Z'], // Sunday
    ['0 0 * * 0', '2026-03-10T10:00:00Z', '2026-03-08T00:00:00.000Z', '2026-03-15T00:00:00.000Z'],
    ['0 0 * * 7', '2026-03-10T10:00:00Z', '2026-03-08T00:00:00.000Z', '2026-03-15T00:00:00.000Z'],
    ['0 12 1,15 * *', '2026-03-10T10:00:00Z', '2026-03-01T12:00:00.000Z', '2026-03-15T12:00:00.000Z'],
    ['0 0 1 Jan *', '2026-03-10T10:00:00Z', '2026-01-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z'],
    // Both day fields restricted: either matches (the 13th, or any Friday).
    ['0 0 13 * 5', '2026-03-10T10:00:00Z', '2026-03-06T00:00:00.000Z', '2026-03-13T00:00:00.000Z'],
  ])('%s at %s', (expr, now, last, next) => {
    const cron = parseCron(expr);
    expect(iso(lastSlotAtOrBefore(cron, at(now)))).toBe(last);
    expect(iso(nextSlotAfter(cron, at(now)))).toBe(next);
  });

  it.each([
    ['0 3 * *', /five fields/],
    ['60 * * * *', /minute '60': 60 is outside 0-59/],
    ['0 24 * * *', /hour '24'/],
    ['0 0 0 * *', /day of month '0'/],
    ['*/0 * * * *', /step '0'/],
    ['0 0 * * Funday', /day of week 'Funday'/],
    ['5-1 * * * *', /ends before it starts/],
  ])('refuses %s naming the field', (expr, message) => {
    expect(() => parseCron(expr)).toThrow(CronSyntaxError);
    expect(() => parseCron(expr)).toThrow(message);
  });
});
