import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';

/** What the loops drive; the repository service implements it. */
export interface SourceWork {
  /** Repositories and their poll intervals (null: not polled). */
  pollIntervals(): Promise<{ name: string; pollSeconds: number | null }[]>;
  /** Fetches one repository and acts on the refs that moved. */
  poll(name: string): Promise<void>;
  /** Fires the schedules that are due. */
  tickSchedules(): Promise<void>;
  /** Sends commit statuses that are behind, starts batched runs that may start, drains deliveries. */
  sweep(): Promise<void>;
}

export interface SourcesRunnerOptions {
  work: SourceWork;
  clock: Clock;
  logger: Logger;
  /** How often the loop looks at what is due, in ms. Default 1 s. */
  tickMs?: number;
  /** How often schedules are evaluated, in ms. Default 30 s. */
  scheduleEveryMs?: number;
}

export type SourcesRunnerState = 'idle' | 'running' | 'stopped';

/**
 * The sources' clock: polls each repository on its interval, evaluates schedules, sweeps
 * statuses and batches. One tick at a time; a slow fetch delays that repository only.
 */
export class SourcesRunner {
  state: SourcesRunnerState = 'idle';
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private readonly nextPoll = new Map<string, number>();
  private readonly polling = new Map<string, Promise<void>>();
  private lastSchedules = Number.NEGATIVE_INFINITY;

  constructor(private readonly o: SourcesRunnerOptions) {}

  start(): void {
    if (this.state !== 'idle') return;
    this.state = 'running';
    this.timer = setInterval(() => {
      if (!this.ticking) this.ticking = this.tick().finally(() => (this.ticking = undefined));
    }, this.o.tickMs ?? 1_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.state = 'stopped';
    clearInterval(this.timer);
    await this.ticking;
    await Promise.all(this.polling.values());
  }

  /** One pass: exported for tests that drive a fake clock. */
  async tick(): Promise<void> {
    const now = this.o.clock.now();
    const log = this.o.logger;
    try {
      for (const { name, pollSeconds } of await this.o.work.pollIntervals()) {
        if (!pollSeconds || this.polling.has(name)) continue;
        const due = this.nextPoll.get(name) ?? now;
        if (due > now) continue;
        this.nextPoll.set(name, now + pollSeconds * 1000);
        const p = this.o.work
          .poll(name)
          .catch((err: Error) => log.warn({ repo: name, err: err.message }, 'poll failed'))
          .finally(() => this.polling.delete(name));
        this.polling.set(name, p);
      }
      if (now - this.lastSchedules >= (this.o.scheduleEveryMs ?? 30_000)) {
        this.lastSchedules = now;
        await this.o.work
          .tickSchedules()
          .catch((err: Error) => log.warn({ err: err.message }, 'schedules failed'));
      }
      await this.o.work.sweep().catch((err: Error) => log.warn({ err: err.message }, 'sweep failed'));
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'sources tick failed');
    }
  }
}
