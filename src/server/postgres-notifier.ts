import pg from 'pg';
import type { Logger } from '../shared/logger.js';
import { LocalTopics, type Notifier } from './notifier.js';

/** The one channel every replica listens on; the topic travels as the payload. */
export const WAKE_CHANNEL = 'slipway_wake';

/** PostgreSQL refuses payloads of 8000 bytes or more; topics are ids, far shorter. */
const MAX_TOPIC_BYTES = 1_000;

export interface PostgresNotifierOptions {
  /** The database every replica shares (`postgres://…`). */
  url: string;
  logger: Logger;
  /** First wait before reconnecting a lost listening connection, in ms. Default 100. */
  reconnectMinMs?: number;
  /** Longest wait between reconnection attempts, in ms. Default 5 000. */
  reconnectMaxMs?: number;
}

export type PostgresNotifierState = 'idle' | 'connected' | 'reconnecting' | 'stopped';

/**
 * Wake-ups across replicas over LISTEN/NOTIFY. Each replica keeps one dedicated connection
 * (never one of the store's pool: a pooled connection would lose its LISTEN when handed back)
 * that listens on one channel and also sends, so a wake-up costs no pool slot. Local waiters are
 * woken at once; the replica's own notifications coming back from PostgreSQL are ignored.
 * Topics notified in one tick go as one statement, which PostgreSQL also de-duplicates.
 * While the connection is down, remote wake-ups are lost — the contract allows it, waiters
 * re-check on timers — and when it is back, every local waiter is woken once to re-read.
 */
export class PostgresNotifier implements Notifier {
  state: PostgresNotifierState = 'idle';
  private readonly local = new LocalTopics();
  private client?: pg.Client;
  private pending = new Set<string>();
  private flushing = false;
  private retryTimer?: NodeJS.Timeout;
  private backoffMs: number;
  private lostLogged = false;

  constructor(private readonly o: PostgresNotifierOptions) {
    this.backoffMs = o.reconnectMinMs ?? 100;
  }

  /** Connects and listens; throws when the database cannot be reached at start. */
  async start(): Promise<void> {
    if (this.state !== 'idle') return;
    await this.connect();
  }

  async stop(): Promise<void> {
    this.state = 'stopped';
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  /** The backend process id of the listening connection (tests end it to play a lost connection). */
  get listenerPid(): number | undefined {
    return (this.client as (pg.Client & { processID?: number }) | undefined)?.processID;
  }

  notify(topic: string): void {
    this.local.emit(topic);
    if (Buffer.byteLength(topic) > MAX_TOPIC_BYTES) return;
    this.pending.add(topic);
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => void this.flush());
    }
  }

  wait(topic: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return this.local.wait(topic, timeoutMs, signal);
  }

  subscribe(topic: string, listener: () => void): () => void {
    return this.local.subscribe(topic, listener);
  }

  private async flush(): Promise<void> {
    try {
      while (this.pending.size > 0) {
        const topics = [...this.pending];
        this.pending = new Set();
        const client = this.client;
        if (this.state !== 'connected' || !client) return; // lost; waiters re-check on timers
        await client
          .query('SELECT pg_notify($1, t) FROM unnest($2::text[]) AS t', [WAKE_CHANNEL, topics])
          .catch(() => undefined); // the 'error' handler reconnects
      }
    } finally {
      this.flushing = false;
      this.pending.clear();
    }
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.o.url,
      connectionTimeoutMillis: 10_000,
      keepAlive: true,
      application_name: 'slipway-notifier',
    });
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    client.on('notification', (msg) => {
      if (msg.channel !== WAKE_CHANNEL || !msg.payload) return;
      // Our own notification: its local waiters were woken when it was sent.
      if (msg.processId === (client as pg.Client & { processID?: number }).processID) return;
      this.local.emit(msg.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${WAKE_CHANNEL}`);
    } catch (error) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.state === 'stopped') {
      await client.end().catch(() => undefined);
      return;
    }
    const wasLost = this.state === 'reconnecting';
    this.client = client;
    this.state = 'connected';
    this.backoffMs = this.o.reconnectMinMs ?? 100;
    if (wasLost) {
      this.o.logger.info('wake-up connection to PostgreSQL re-established');
      this.lostLogged = false;
      // Whatever was notified while it was down is lost: every waiter re-reads once now.
      for (const topic of this.local.topics()) this.local.emit(topic);
    }
  }

  private lost(client: pg.Client): void {
    if (client !== this.client || this.state === 'stopped') return;
    this.client = undefined;
    this.state = 'reconnecting';
    client.end().catch(() => undefined);
    if (!this.lostLogged) {
      // Once per outage: a database that stays away must not flood the log.
      this.lostLogged = true;
      this.o.logger.warn('wake-up connection to PostgreSQL lost; reconnecting (waiters re-check on timers)');
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.state === 'stopped') return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.o.reconnectMaxMs ?? 5_000);
    this.retryTimer = setTimeout(() => {
      this.connect().catch(() => this.scheduleReconnect());
    }, delay);
    this.retryTimer.unref();
  }
}
