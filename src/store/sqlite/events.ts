import type { AppendLogOutcome, EventRow, NewEvent } from '../types.js';
import { type Db, json, sql } from './db.js';

interface Raw {
  run_id: string;
  seq: number;
  at: number;
  kind: string;
  job_id: string | null;
  job_name: string | null;
  attempt: number | null;
  step: number | null;
  data: string;
}

export function appendEvent(db: Db, runId: string, e: NewEvent, now: number): number {
  const { seq } = db
    .prepare('SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM run_events WHERE run_id = ?')
    .get(runId) as {
    seq: number;
  };
  sql(
    db,
    'INSERT INTO run_events (run_id, seq, at, kind, job_id, job_name, attempt, step, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
  ).run(runId, seq, now, e.kind, e.jobId, e.jobName, e.attempt, e.step, json.str(e.data));
  return seq;
}

export function listEvents(db: Db, runId: string, after: number, limit: number): EventRow[] {
  const rows = db
    .prepare('SELECT * FROM run_events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?')
    .all(runId, after, limit) as Raw[];
  return rows.map((r) => ({
    runId: r.run_id,
    seq: r.seq,
    at: r.at,
    kind: r.kind as EventRow['kind'],
    jobId: r.job_id,
    jobName: r.job_name,
    attempt: r.attempt,
    step: r.step,
    data: json.parse(r.data),
  }));
}

/**
 * The agent resends a chunk it is unsure about (after a timeout or a reconnect) at the same
 * offset; bytes already stored are skipped, so the log never holds a line twice.
 */
export function appendLog(
  db: Db,
  job: { id: string; runId: string; name: string },
  epoch: number,
  step: number,
  offset: number,
  data: Buffer,
  now: number,
): AppendLogOutcome {
  return db.transaction((): AppendLogOutcome => {
    const current = sql(db, 'SELECT attempt, status FROM jobs WHERE id = ?').get(job.id) as
      | { attempt: number; status: string }
      | undefined;
    const row = db
      .prepare('SELECT length FROM log_streams WHERE job_id = ? AND attempt = ? AND step = ?')
      .get(job.id, epoch, step) as { length: number } | undefined;
    const length = row?.length ?? 0;
    if (!current || current.attempt !== epoch || current.status !== 'running') {
      return { ok: false, reason: 'stale-epoch', length };
    }
    if (offset > length) return { ok: false, reason: 'gap', length };
    const fresh = data.subarray(length - offset);
    if (fresh.length === 0) return { ok: true, length, appended: false };
    const newLength = length + fresh.length;
    sql(
      db,
      `INSERT INTO log_streams (job_id, attempt, step, length) VALUES (?, ?, ?, ?)
       ON CONFLICT (job_id, attempt, step) DO UPDATE SET length = excluded.length`,
    ).run(job.id, epoch, step, newLength);
    appendEvent(
      db,
      job.runId,
      {
        kind: 'log',
        jobId: job.id,
        jobName: job.name,
        attempt: epoch,
        step,
        data: { text: fresh.toString('utf8') },
      },
      now,
    );
    return { ok: true, length: newLength, appended: true };
  })();
}

export function readLog(db: Db, jobId: string, attempt: number, step?: number): string {
  const rows = (
    step === undefined
      ? db
          .prepare(
            "SELECT data FROM run_events WHERE job_id = ? AND attempt = ? AND kind = 'log' ORDER BY seq",
          )
          .all(jobId, attempt)
      : db
          .prepare(
            "SELECT data FROM run_events WHERE job_id = ? AND attempt = ? AND step = ? AND kind = 'log' ORDER BY seq",
          )
          .all(jobId, attempt, step)
  ) as { data: string }[];
  return rows.map((r) => (JSON.parse(r.data) as { text: string }).text).join('');
}
