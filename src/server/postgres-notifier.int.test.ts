import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../shared/logger.js';
import { createTestDatabase, type TestDatabase } from '../test-support/postgres.js';
import { PostgresNotifier } from './postgres-notifier.js';

/** Two replicas' notifiers on one real PostgreSQL (scripts/ensure-postgres.sh starts it). */
let db: TestDatabase;
let notifiers: PostgresNotifier[];

beforeEach(async () => {
  db = await createTestDatabase('slipway_notifier');
  notifiers = [0, 1].map(
    () =>
      new PostgresNotifier({ url: db.url, logger: silentLogger, reconnectMinMs: 50, reconnectMaxMs: 200 }),
  );
  await Promise.all(notifiers.map((n) => n.start()));
});

afterEach(async () => {
  await Promise.all(notifiers.map((n) => n.stop()));
  await db.drop();
});

/** Resolves with how long `topic` took to wake on `n`, or 'timeout' after `ms`. */
async function woken(n: PostgresNotifier, topic: string, ms: number, trigger: () => void) {
  const started = Date.now();
  let notified = false;
  const off = n.subscribe(topic, () => (notified = true));
  const waiting = n.wait(topic, ms);
  trigger();
  await waiting;
  off();
  return notified ? Date.now() - started : 'timeout';
}

async function terminate(pid: number): Promise<void> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    await c.query('SELECT pg_terminate_backend($1)', [pid]);
  } finally {
    await c.end();
  }
}

describe('PostgresNotifier', () => {
  it('a notify on one replica wakes a waiter on the other, and only for that topic', async () => {
    const [a, b] = notifiers as [PostgresNotifier, PostgresNotifier];
    let other = false;
    const off = b.subscribe('pool:other', () => (other = true));
    expect(await woken(b, 'pool:default', 10_000, () => a.notify('pool:default'))).not.toBe('timeout');
    off();
    expect(other).toBe(false);
  });

  it('wakes its own waiters at once, once, without the round trip', async () => {
    const [a] = notifiers as [PostgresNotifier];
    let calls = 0;
    const off = a.subscribe('run:1', () => calls++);
    a.notify('run:1');
    expect(calls).toBe(1); // synchronously: no database involved
    await new Promise((r) => setTimeout(r, 300));
    off();
    expect(calls).toBe(1); // its own notification, coming back, is not a second wake-up
  });

  it('re-establishes a listening connection the database ended, and wakes across it again', async () => {
    const [a, b] = notifiers as [PostgresNotifier, PostgresNotifier];
    const pid = b.listenerPid!;
    expect(pid).toBeGreaterThan(0);
    await terminate(pid);
    const deadline = Date.now() + 10_000;
    while ((b.state !== 'connected' || b.listenerPid === pid) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(b.state).toBe('connected');
    expect(b.listenerPid).not.toBe(pid);
    expect(await woken(b, 'job:7', 10_000, () => a.notify('job:7'))).not.toBe('timeout');
  });

  it('a sender whose connection was ended reconnects and its notifications arrive again', async () => {
    const [a, b] = notifiers as [PostgresNotifier, PostgresNotifier];
    const pid = a.listenerPid!;
    await terminate(pid);
    const deadline = Date.now() + 10_000;
    while ((a.state !== 'connected' || a.listenerPid === pid) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await woken(b, 'pool:x', 10_000, () => a.notify('pool:x'))).not.toBe('timeout');
  });
});
