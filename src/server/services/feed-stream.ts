import { encodeFrameHead, FEED_STREAM_WAIT_MS } from '../../protocol/index.js';
import type { FeedRow, Store } from '../../store/index.js';
import type { Notifier } from '../notifier.js';

/** A notification may be lost (another replica's, over a reconnect): the store is read again this often. */
const RECHECK_MS = 1_000;

export interface FeedStreamOptions {
  store: Store;
  /** Wakes the stream when its run has news (`run:<id>`). */
  notifier: Notifier;
  /** Rows read from the store at a time, and about how many bytes of them. */
  rows: { limit: number; bytes: number };
  /** Longest a page lasts, busy or not, before its last frame; default `FEED_STREAM_WAIT_MS`. */
  pageMs?: number;
}

/**
 * One page of a run's raw feed after `after`, as the bytes to send (see `feedFrame`): stored
 * events as they are read, a log chunk's bytes as the agent sent them, then the frame that says
 * where to go on. Read a page of rows at a time as the client pulls, so memory stays bounded
 * however fast the log grows and however slowly the client reads. Ends within `pageMs`, or
 * when `signal` aborts (the client went away).
 */
export async function* feedStream(
  o: FeedStreamOptions,
  runId: string,
  after: number,
  signal?: AbortSignal,
): AsyncGenerator<Buffer> {
  const until = Date.now() + (o.pageMs ?? FEED_STREAM_WAIT_MS);
  let woken = false;
  let wake: (() => void) | undefined;
  // Subscribed before the first read, so news between a read and the wait is not missed.
  const unsubscribe = o.notifier.subscribe(`run:${runId}`, () => {
    woken = true;
    wake?.();
  });
  try {
    let next = after;
    for (;;) {
      woken = false;
      const rows = await o.store.listFeed(runId, next, o.rows.limit, o.rows.bytes);
      for (const row of rows) {
        yield frameHead(runId, row);
        if (row.body) yield row.body;
        next = row.seq;
      }
      if (signal?.aborted || Date.now() >= until) break;
      if (rows.length > 0) continue;
      // Done only once every event is served: the run's last event comes before its completion.
      if ((await o.store.getRun(runId))?.status === 'completed') {
        if ((await o.store.listFeed(runId, next, 1)).length > 0) continue;
        yield encodeFrameHead({ next, done: true });
        return;
      }
      if (!woken) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, Math.min(RECHECK_MS, Math.max(0, until - Date.now())));
          signal?.addEventListener('abort', done, { once: true });
          wake = done;
          function done() {
            clearTimeout(timer);
            signal?.removeEventListener('abort', done);
            wake = undefined;
            resolve();
          }
        });
      }
      if (signal?.aborted || Date.now() >= until) break;
    }
    yield encodeFrameHead({ next, done: false });
  } finally {
    unsubscribe();
  }
}

/** The frame line of a stored event: its data as stored (already JSON), or a log chunk's length. */
function frameHead(runId: string, row: FeedRow): Buffer {
  const head = `{"runId":${JSON.stringify(runId)},"seq":${row.seq},"at":${JSON.stringify(new Date(row.at).toISOString())},"kind":${JSON.stringify(row.kind)},"jobId":${JSON.stringify(row.jobId)},"jobName":${JSON.stringify(row.jobName)},"attempt":${JSON.stringify(row.attempt)},"step":${JSON.stringify(row.step)},`;
  // The stored data is the JSON a typed event was written as: it goes out as it is, unparsed.
  return Buffer.from(row.body ? `${head}"bytes":${row.body.length}}\n` : `${head}"data":${row.data}}\n`);
}
