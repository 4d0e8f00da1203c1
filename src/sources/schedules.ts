import { type Cron, lastSlotAtOrBefore } from './cron.js';
import type { Schedule } from './triggers.js';

/** A missed slot younger than this still runs once (a coordinator restarted shortly after it). */
export const DEFAULT_SCHEDULE_GRACE_MS = 60 * 60_000;

/** A schedule's identity across edits elsewhere in the file: its name and its cron. */
export function scheduleKey(schedule: Schedule): string {
  return `${schedule.displayName}|${schedule.cron}`;
}

export interface ScheduleDecision {
  /** The slot to record as the last one seen. */
  slot: number;
  /** Whether to queue a run for it. */
  run: boolean;
  why: string;
}

/**
 * What one schedule does on one branch at `now`: nothing (no slot since the last one seen),
 * record a slot without running (first sight, a branch that has not changed, a slot missed
 * long ago), or run. Only the latest slot is ever considered, so a coordinator that was down
 * for a week fires at most once, never a burst.
 */
export function planSchedule(input: {
  schedule: Schedule;
  cron: Cron;
  now: number;
  /** What the store holds for this schedule and branch. */
  last: { lastSlot: number; lastCommit: string | null } | undefined;
  /** The branch's tip now. */
  tip: string;
  graceMs?: number;
}): ScheduleDecision | undefined {
  const slot = lastSlotAtOrBefore(input.cron, input.now);
  if (slot === undefined) return undefined;
  if (!input.last) return { slot, run: false, why: 'first seen: waits for its next slot' };
  if (slot <= input.last.lastSlot) return undefined;
  if (input.now - slot > (input.graceMs ?? DEFAULT_SCHEDULE_GRACE_MS)) {
    return { slot, run: false, why: 'slot missed while the coordinator was down' };
  }
  if (!input.schedule.always && input.last.lastCommit === input.tip) {
    return { slot, run: false, why: 'the branch has not changed since the last scheduled run' };
  }
  return { slot, run: true, why: 'due' };
}
