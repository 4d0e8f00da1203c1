import type pg from 'pg';
import { eventRowOf, feedRowOf, type RawEventRow } from '../event-rows.js';
import { logRows } from '../log-rows.js';
import type { AppendLogOutcome, EventRow, FeedRow, LogLimits, NewEvent } from '../types.js';
import { type Db, json, one, query, rows, transaction } from './db.js';

/**
 * Numbers the event inside `c`'s transaction: appends to one run take turns (a transaction
 * advisory lock on the run, released at commit), so `seq` stays gapless and ordered.
 */
export async function insertEvent(
  c: pg.PoolClient,
  runId: string,
  e: NewEvent,
  now: number,
): Promise<number> {
  await query(c, 'SELECT pg_advisory_xact_lock(1, hashtext($1))', [runId]);
  const { seq } = (await one<{ seq: number }>(
    c,
    `INSERT INTO run_events (run_id, seq, at, kind, job_id, job_name, attempt, step, data)
     SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5, $6, $7, $8 FROM run_events WHERE run_id = $1
     RETURNING seq`,
    [runId, now, e.kind, e.jobId, e.jobName, e.attempt, e.step, json.str(e.data)],
  ))!;
  return seq;
}

/**
 * A log chunk as its own event, its bytes kept as they came (see listFeed); numbered as
 * insertEvent does, under the run's lock, which the caller holds.
 */
async function insertLogChunk(
  c: pg.PoolClient,
  job: { id: string; runId: string; name: string },
  epoch: number,
  step: number,
  body: Buffer,
  now: number,
): Promise<void> {
  await query(
    c,
    `INSERT INTO run_events (run_id, seq, at, kind, job_id, job_name, attempt, step, data, body)
     SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, 'log', $3, $4, $5, $6, '', $7 FROM run_events WHERE run_id = $1`,
    [job.runId, now, job.id, job.name, epoch, step, body],
  );
}

export async function appendEvent(pool: pg.Pool, runId: string, e: NewEvent, now: number): Promise<number> {
  return transaction(pool, (c) => insertEvent(c, runId, e, now));
}

export async function listEvents(
  db: Db,
  runId: string,
  after: number,
  limit: number,
  maxBytes = Number.POSITIVE_INFINITY,
): Promise<EventRow[]> {
  return (await listFeed(db, runId, after, limit, maxBytes)).map((r) => eventRowOf(runId, r));
}

export async function listFeed(
  db: Db,
  runId: string,
  after: number,
  limit: number,
  maxBytes = Number.POSITIVE_INFINITY,
): Promise<FeedRow[]> {
  // The byte budget is counted in the database, so a page never reads the rows after it.
  const found = await rows<RawEventRow & { total: number; n: number }>(
    db,
    `SELECT * FROM (
       SELECT e.*, SUM(COALESCE(octet_length(body), length(data))) OVER w AS total, ROW_NUMBER() OVER w AS n
       FROM run_events e WHERE run_id = $1 AND seq > $2 WINDOW w AS (ORDER BY seq) ORDER BY seq LIMIT $3
     ) page WHERE n = 1 OR $4::bigint IS NULL OR total <= $4 ORDER BY seq`,
    [runId, after, limit, Number.isFinite(maxBytes) ? maxBytes : null],
  );
  return found.map((r) => {
    return feedRowOf(r);
  });
}

/**
 * The agent resends a chunk it is unsure about at the same offset; bytes already stored are
 * skipped, so the log never holds a line twice. The job's row is locked for the append, so
 * appends of one job (from any replica) and its claim or completion take turns.
 */
export async function appendLog(
  pool: pg.Pool,
  job: { id: string; runId: string; name: string },
  epoch: number,
  step: number,
  offset: number,
  data: Buffer,
  now: number,
  limits?: LogLimits,
): Promise<AppendLogOutcome> {
  return transaction(pool, async (c): Promise<AppendLogOutcome> => {
    const current = await one<{ attempt: number; status: string }>(
      c,
      'SELECT attempt, status FROM jobs WHERE id = $1 FOR UPDATE',
      [job.id],
    );
    const row = await one<{ length: number; stored: number; truncated: boolean }>(
      c,
      'SELECT length, stored, truncated FROM log_streams WHERE job_id = $1 AND attempt = $2 AND step = $3',
      [job.id, epoch, step],
    );
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
      const { total } = (await one<{ total: number }>(
        c,
        'SELECT COALESCE(SUM(stored), 0) AS total FROM log_streams WHERE job_id = $1 AND attempt = $2',
        [job.id, epoch],
      ))!;
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
    const truncated = row?.truncated === true || note !== '';
    await query(
      c,
      `INSERT INTO log_streams (job_id, attempt, step, length, stored, truncated) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (job_id, attempt, step) DO UPDATE SET length = excluded.length, stored = excluded.stored,
         truncated = excluded.truncated`,
      [job.id, epoch, step, newLength, stored + keep.length, truncated],
    );
    const body = note === '' ? keep : Buffer.concat([keep, Buffer.from(note)]);
    if (body.length > 0) await query(c, 'SELECT pg_advisory_xact_lock(1, hashtext($1))', [job.runId]);
    for (const row of logRows(body)) await insertLogChunk(c, job, epoch, step, row, now);
    return {
      ok: true,
      length: newLength,
      appended: body.length > 0,
      ...(truncated ? { truncated: true } : {}),
    };
  });
}

/** The largest cut at or below `at` that does not split a UTF-8 character. */
function characterBoundary(buf: Buffer, at: number): number {
  let cut = Math.min(at, buf.length);
  while (cut > 0 && cut < buf.length && (buf[cut]! & 0xc0) === 0x80) cut--;
  return cut;
}

export async function readLogPage(
  db: Db,
  jobId: string,
  attempt: number,
  step: number | undefined,
  after: number,
  maxBytes: number,
): Promise<{ text: string; next: number } | undefined> {
  // Chunks up to the first that reaches `maxBytes`, read a few at a time along the index:
  // memory stays bounded whatever the log's size.
  const texts: string[] = [];
  let bytes = 0;
  let next = after;
  for (;;) {
    // Decoded here, not by the database: a chunk of broken UTF-8 reads as Node decodes it, not as an error.
    const found = await rows<{ seq: number; data: string; body: Buffer | null }>(
      db,
      `SELECT seq, data, body FROM run_events WHERE job_id = $1 AND attempt = $2 AND kind = 'log' AND seq > $3
         AND ($4::integer IS NULL OR step = $4) ORDER BY seq LIMIT ${LOG_BATCH}`,
      [jobId, attempt, next, step ?? null],
    );
    for (const r of found) {
      // Rows end on character boundaries (the agent and the store cut there): each decodes alone.
      texts.push(r.body ? r.body.toString('utf8') : (JSON.parse(r.data) as { text: string }).text);
      bytes += r.body ? r.body.length : r.data.length;
      next = r.seq;
      if (bytes >= maxBytes) break;
    }
    if (bytes >= maxBytes || found.length < LOG_BATCH) break;
  }
  return texts.length === 0 ? undefined : { text: texts.join(''), next };
}

const LOG_BATCH = 32;
