import { describe, expect, it } from 'vitest';
import { parseCron } from './cron.js';
import { planSchedule } from './schedules.js';
import type { Schedule } from './triggers.js';

const nightly: Schedule = {
  cron: '0 3 * * *',
  displayName: 'nightly',
  branches: { include: [], exclude: [] },
  always: false,
};
const at = (iso: string) => Date.parse(iso);
const plan = (
  now: string,
  last: { lastSlot: number; lastCommit: string | null } | undefined,
  tip = 'c1',
  s = nightly,
) => planSchedule({ schedule: s, cron: parseCron(s.cron), now: at(now), last, tip });

describe('planSchedule under a fake clock', () => {
  it('first sight records the latest slot and waits for the next one', () => {
    expect(plan('2026-03-10T12:00:00Z', undefined)).toEqual({
      slot: at('2026-03-10T03:00:00Z'),
      run: false,
      why: expect.stringMatching(/first seen/),
    });
  });

  it('fires once when the slot comes, then not again in the same slot', () => {
    const last = { lastSlot: at('2026-03-10T03:00:00Z'), lastCommit: null };
    expect(plan('2026-03-11T02:59:59Z', last)).toBeUndefined();
    const due = plan('2026-03-11T03:00:20Z', last);
    expect(due).toMatchObject({ slot: at('2026-03-11T03:00:00Z'), run: true });
    expect(plan('2026-03-11T03:05:00Z', { lastSlot: due!.slot, lastCommit: 'c1' })).toBeUndefined();
  });

  it('skips a branch that has not changed, unless always', () => {
    const last = { lastSlot: at('2026-03-10T03:00:00Z'), lastCommit: 'c1' };
    expect(plan('2026-03-11T03:00:05Z', last, 'c1')).toMatchObject({
      run: false,
      why: expect.stringMatching(/not changed/),
    });
    expect(plan('2026-03-11T03:00:05Z', last, 'c2')).toMatchObject({ run: true });
    expect(plan('2026-03-11T03:00:05Z', last, 'c1', { ...nightly, always: true })).toMatchObject({
      run: true,
    });
  });

  it('after a week down: one decision for the latest slot, no burst; long missed slots are passed over', () => {
    const last = { lastSlot: at('2026-03-01T03:00:00Z'), lastCommit: null };
    expect(plan('2026-03-08T03:30:00Z', last)).toEqual({
      slot: at('2026-03-08T03:00:00Z'),
      run: true,
      why: 'due',
    });
    expect(plan('2026-03-08T12:00:00Z', last)).toMatchObject({
      slot: at('2026-03-08T03:00:00Z'),
      run: false,
    });
  });
});
