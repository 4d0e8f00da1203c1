import type { EventRow, FeedRow } from './types.js';

/** A `run_events` row as both stores read it. */
export interface RawEventRow {
  run_id: string;
  seq: number;
  at: number;
  kind: string;
  job_id: string | null;
  job_name: string | null;
  attempt: number | null;
  step: number | null;
  data: string;
  /** A log chunk's bytes (then `data` is empty); null for every other event. */
  body: Buffer | null;
}

/** The feed's view of a row: a log chunk keeps its bytes, any other event its JSON undecoded. */
export function feedRowOf(r: RawEventRow): FeedRow {
  const head = {
    seq: r.seq,
    at: r.at,
    kind: r.kind as FeedRow['kind'],
    jobId: r.job_id,
    jobName: r.job_name,
    attempt: r.attempt,
    step: r.step,
  };
  return r.body ? { ...head, body: r.body } : { ...head, data: r.data };
}

/** The decoded event of a feed row of `runId`: a log chunk's bytes become its text. */
export function eventRowOf(runId: string, r: FeedRow): EventRow {
  // The row was written from a typed event: its kind and data go together.
  return {
    runId,
    seq: r.seq,
    at: r.at,
    kind: r.kind,
    jobId: r.jobId,
    jobName: r.jobName,
    attempt: r.attempt,
    step: r.step,
    data: r.body ? { text: r.body.toString('utf8') } : JSON.parse(r.data as string),
  } as EventRow;
}
