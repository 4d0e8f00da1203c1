import type { Db } from './db.js';
import { sql } from './db.js';

interface Batch {
  /** Settles once the batch's COMMIT has run: fulfilled when it stuck, rejected when it did not. */
  done: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * The one batch open in this process, whichever store holds it. Two stores on one file (tests
 * play replicas that way) share a thread: a second connection waiting on the write lock this
 * thread holds would wait forever, so a store flushes the other's batch before opening its own.
 */
let holder: GroupCommit | undefined;

/**
 * Group commit: the writes of one event-loop turn share one transaction, committed on
 * `setImmediate`. A COMMIT costs far more than the statements before it (the dirty pages are
 * written at each one), so a turn that serves fifty requests pays for it once.
 *
 * Each unit of work still runs in its own SAVEPOINT, so one that throws is rolled back alone.
 * Nothing leaves before it is durable: every call made while a batch is open, reads too (they
 * see the batch's writes), settles only after that batch's COMMIT, and is rejected if the COMMIT
 * fails, so no answer, cache or wake-up is built on a write that did not stick.
 */
export class GroupCommit {
  private batch: Batch | undefined;

  constructor(private readonly db: Db) {}

  /** Whether a batch is open (its COMMIT still to come). */
  get pending(): boolean {
    return this.batch !== undefined;
  }

  /** Runs `work` in the current batch (opened if need be); settles after the batch commits. */
  write<T>(work: () => T): Promise<T> {
    let batch: Batch;
    try {
      batch = this.open();
      // By hand, not `db.transaction(work)`: that builds four wrapper functions at every call.
      sql(this.db, 'SAVEPOINT unit').run();
    } catch (err) {
      // A promise's callers catch rejections, not throws (a closed or locked database).
      return Promise.reject(err);
    }
    let value: T;
    try {
      value = work();
      sql(this.db, 'RELEASE unit').run();
    } catch (err) {
      if (this.db.inTransaction) {
        sql(this.db, 'ROLLBACK TO unit').run();
        sql(this.db, 'RELEASE unit').run();
      } else this.fail(batch, err);
      return batch.done.then(
        () => Promise.reject(err),
        () => Promise.reject(err),
      );
    }
    return batch.done.then(() => value);
  }

  /** Runs `work` now; when a batch is open (whose writes it may have seen), settles after it. */
  read<T>(work: () => T): Promise<T> {
    try {
      const value = work();
      return this.batch ? this.batch.done.then(() => value) : Promise.resolve(value);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Commits the open batch now (before closing, or before another store opens one). */
  flush(): void {
    const batch = this.batch;
    if (!batch) return;
    this.batch = undefined;
    if (holder === this) holder = undefined;
    if (!this.db.inTransaction) {
      // SQLite rolled the whole transaction back itself (an I/O or full-disk error mid-batch).
      batch.reject(new Error('the store lost a transaction: its writes were rolled back'));
      return;
    }
    try {
      sql(this.db, 'COMMIT').run();
      batch.resolve();
    } catch (err) {
      if (this.db.inTransaction) sql(this.db, 'ROLLBACK').run();
      batch.reject(err);
    }
  }

  private open(): Batch {
    if (this.batch && !this.db.inTransaction) this.fail(this.batch, undefined);
    if (this.batch) return this.batch;
    if (holder && holder !== this) holder.flush();
    // IMMEDIATE: take the write lock now, so no later write in the batch can meet a busy snapshot.
    sql(this.db, 'BEGIN IMMEDIATE').run();
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const batch: Batch = { done, resolve, reject };
    // Every waiter attaches its own handler; this one keeps a batch nobody awaits from crashing.
    done.catch(() => {});
    this.batch = batch;
    holder = this;
    setImmediate(() => {
      if (this.batch === batch) this.flush();
    });
    return batch;
  }

  /** The batch can no longer commit (SQLite rolled it back): fail its waiters, start afresh. */
  private fail(batch: Batch, cause: unknown): void {
    if (this.batch !== batch) return;
    this.batch = undefined;
    if (holder === this) holder = undefined;
    batch.reject(
      cause instanceof Error ? cause : new Error('the store lost a transaction: its writes were rolled back'),
    );
  }
}
