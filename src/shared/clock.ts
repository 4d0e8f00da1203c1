/** Time as the rest of the code sees it; tests pass a controllable one. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * A clock that runs `rate` times as fast as the wall clock from `from` (ms since the epoch), so a
 * test sees minutes of cron slots pass in seconds; processes given the same pair agree on the time.
 */
export function fastClock(from: number, rate: number): Clock {
  return { now: () => from + (Date.now() - from) * rate };
}

/**
 * The clock `SLIPWAY_TEST_CLOCK` asks for, `RATE@FROM_MS` (for tests of real processes only:
 * documented nowhere else); undefined when it is not set.
 */
export function testClockFrom(value: string | undefined): Clock | undefined {
  if (!value) return undefined;
  const m = /^(\d+(?:\.\d+)?)@(\d+)$/.exec(value);
  if (!m) throw new Error(`SLIPWAY_TEST_CLOCK must be RATE@FROM_MS, not '${value}'`);
  return fastClock(Number(m[2]), Number(m[1]));
}
