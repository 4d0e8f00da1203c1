import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InProcessNotifier, type Notifier } from './notifier.js';

describe('InProcessNotifier', () => {
  let notifier: Notifier;
  beforeEach(() => {
    vi.useFakeTimers();
    notifier = new InProcessNotifier();
  });
  afterEach(() => vi.useRealTimers());

  const settled = (p: Promise<void>) => {
    let done = false;
    void p.then(() => (done = true));
    return () => done;
  };

  it('wakes every waiter of a topic, and only of that topic', async () => {
    const a = settled(notifier.wait('pool:a', 60_000));
    const a2 = settled(notifier.wait('pool:a', 60_000));
    const b = settled(notifier.wait('pool:b', 60_000));
    notifier.notify('pool:a');
    await vi.advanceTimersByTimeAsync(0);
    expect([a(), a2(), b()]).toEqual([true, true, false]);
  });

  it('resolves after the timeout when nothing is notified', async () => {
    const w = settled(notifier.wait('run:1', 1_000));
    await vi.advanceTimersByTimeAsync(999);
    expect(w()).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(w()).toBe(true);
  });

  it('resolves when the signal aborts, also one aborted already', async () => {
    const ac = new AbortController();
    const w = settled(notifier.wait('job:1', 60_000, ac.signal));
    ac.abort();
    await vi.advanceTimersByTimeAsync(0);
    expect(w()).toBe(true);
    const late = settled(notifier.wait('job:1', 60_000, ac.signal));
    await vi.advanceTimersByTimeAsync(0);
    expect(late()).toBe(true);
  });

  it('a notification before the wait is not kept: waiters re-read the store', async () => {
    notifier.notify('run:2');
    const w = settled(notifier.wait('run:2', 1_000));
    await vi.advanceTimersByTimeAsync(0);
    expect(w()).toBe(false);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(w()).toBe(true);
  });
});
