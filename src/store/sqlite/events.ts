import { eventRowOf, feedRowOf, type RawEventRow } from '../event-rows.js';
import { logRows } from '../log-rows.js';
import type { AppendLogOutcome, EventRow, FeedRow, LogLimits, NewEvent } from '../types.js';
import { type Db, json, sql } from './db.js';

export function appendEvent(db: Db, runId: string, e: NewEvent, now: number): number {
  // One statement: the next number and the row together (the run's events stay numbered 1, 2, 3...).
  const { seq } = sql(
    db,
    `INSERT INTO run_events (run_id, seq, at, kind, job_id, job_name, attempt, step, data)
     SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ?, ?, ?, ? FROM run_events WHERE run_id = ?
     RETURNING seq`,
  ).get(runId, now, e.kind, e.jobId, e.jobName, e.attempt, e.step, json.str(e.data), runId) as {
    seq: number;
  };
  return seq;
}

export function listEvents(
  db: Db,
  runId: string,
  after: number,
  limit: number,
  maxBytes = Number.POSITIVE_INFINITY,
): EventRow[] {
  return listFeed(db, runId, after, limit, maxBytes).map((r) => eventRowOf(runId, r));
}

export function listFeed(
  db: Db,
  runId: string,
  after: number,
  limit: number,
  maxBytes = Number.POSITIVE_INFINITY,
): FeedRow[] {
  const out: FeedRow[] = [];
  let bytes = 0;
  // Iterated, so a page stops at its byte budget without reading the rows after it.
  for (const r of sql(
    db,
    'SELECT * FROM run_events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?',
  ).iterate(runId, after, limit) as Iterable<RawEventRow>) {
    const size = r.body ? r.body.length : r.data.length;
    if (out.length > 0 && bytes + size > maxBytes) break;
    bytes += size;
    out.push(feedRowOf(r));
  }
  return out;
}

/** A log chunk as its own event, its bytes kept as they came (see listFeed). */
function appendLogChunk(
  db: Db,
  job: { id: string; runId: string; name: string },
  epoch: number,
  step: number,
  body: Buffer,
  now: number,
): void {
  sql(
    db,
    `INSERT INTO run_events (run_id, seq, at, kind, job_id, job_name, attempt, step, data, body)
     SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, 'log', ?, ?, ?, ?, '', ? FROM run_events WHERE run_id = ?`,
  ).run(job.runId, now, job.id, job.name, epoch, step, body, job.runId);
}

/**
 * The agent resends a chunk it is unsure about (after a timeout or a reconnect) at the same
 * offset; bytes already stored are skipped, so the log never holds a line twice. Bytes past the
 * pool's cap are accepted and dropped, with one note where the log was cut.
 */
export function appendLog(
  db: Db,
  job: { id: string; runId: string; name: string },
  epoch: number,
  step: number,
  offset: number,
  data: Buffer,
  now: number,
  limits?: LogLimits,
): AppendLogOutcome {
  return db.transaction((): AppendLogOutcome => {
    const current = sql(db, 'SELECT attempt, status FROM jobs WHERE id = ?').get(job.id) as
      | { attempt: number; status: string }
      | undefined;
    const row = sql(
      db,
      'SELECT length, stored, truncated FROM log_streams WHERE job_id = ? AND attempt = ? AND step = ?',
    ).get(job.id, epoch, step) as { length: number; stored: number; truncated: number } | undefined;
    const length = row?.length ?? 0;
    if (!current || current.attempt !== epoch || current.status !== 'running') {
      return { ok: false, reason: 'stale-epoch', length };
    }
    if (offset > length) return { ok: false, reason: 'gap', length };
    const fresh = data.subarray(length - offset);
    if (fresh.length === 0)
      return { ok: true, length, appended: false, ...(row?.truncated ? { truncated: true } : {}) };
    const newLength = length + fresh.length;
    const stored = row?.stored ?? 0;
    let keep = fresh;
    let note = '';
    if (row?.truncated) keep = fresh.subarray(0, 0);
    else if (limits) {
      const { total } = sql(
        db,
        'SELECT COALESCE(SUM(stored), 0) AS total FROM log_streams WHERE job_id = ? AND attempt = ?',
      ).get(job.id, epoch) as { total: number };
      const stepRoom = Math.max(0, limits.stepBytes - stored);
      const jobRoom = Math.max(0, limits.jobBytes - total);
      if (fresh.length > Math.min(stepRoom, jobRoom)) {
        const scope = stepRoom <= jobRoom ? 'step' : 'job';
        keep = fresh.subarray(0, characterBoundary(fresh, Math.min(stepRoom, jobRoom)));
        const at = scope === 'step' ? stored + keep.length : total + keep.length;
        const newline = keep.length > 0 && keep[keep.length - 1] !== 0x0a ? '\n' : '';
        note = `${newline}${limits.note(scope, at)}\n`;
      }
    }
    const truncated = row?.truncated === 1 || note !== '';
    sql(
      db,
      `INSERT INTO log_streams (job_id, attempt, step, length, stored, truncated) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (job_id, attempt, step) DO UPDATE SET length = excluded.length, stored = excluded.stored,
         truncated = excluded.truncated`,
    ).run(job.id, epoch, step, newLength, stored + keep.length, Number(truncated));
    const body = note === '' ? keep : Buffer.concat([keep, Buffer.from(note)]);
    for (const row of logRows(body)) appendLogChunk(db, job, epoch, step, row, now);
    return {
      ok: true,
      length: newLength,
      appended: body.length > 0,
      ...(truncated ? { truncated: true } : {}),
    };
  })();
}

/** The largest cut at or below `at` that does not split a UTF-8 character. */
function characterBoundary(buf: Buffer, at: number): number {
  let cut = Math.min(at, buf.length);
  while (cut > 0 && cut < buf.length && (buf[cut]! & 0xc0) === 0x80) cut--;
  return cut;
}

/**
 * A log chunk read back as text by SQLite itself: a string on the heap rather than a Buffer
 * outside it, which a reader of a big log would pile up faster than the collector notices.
 * Chunks end on character boundaries (the agent and the cap cut there): each decodes alone.
 */
const LOG_TEXT = 'seq, data, CAST(body AS TEXT) AS text';

export function readLogPage(
  db: Db,
  jobId: string,
  attempt: number,
  step: number | undefined,
  after: number,
  maxBytes: number,
): { text: string; next: number } | undefined {
  const rows = (
    step === undefined
      ? sql(
          db,
          `SELECT ${LOG_TEXT} FROM run_events WHERE job_id = ? AND attempt = ? AND kind = 'log' AND seq > ? ORDER BY seq`,
        ).iterate(jobId, attempt, after)
      : sql(
          db,
          `SELECT ${LOG_TEXT} FROM run_events WHERE job_id = ? AND attempt = ? AND kind = 'log' AND seq > ? AND step = ? ORDER BY seq`,
        ).iterate(jobId, attempt, after, step)
  ) as Iterable<{ seq: number; data: string; text: string | null }>;
  const texts: string[] = [];
  let bytes = 0;
  let next = after;
  for (const r of rows) {
    texts.push(r.text ?? (JSON.parse(r.data) as { text: string }).text);
    bytes += r.text?.length ?? r.data.length;
    next = r.seq;
    if (bytes >= maxBytes) break;
  }
  return texts.length === 0 ? undefined : { text: texts.join(''), next };
}
