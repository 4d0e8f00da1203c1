import { expect, it } from 'vitest';
import { MAX_FLEET_EVENTS } from '../protocol/index.js';
import { FleetStatusRecorder } from './fleet-status.js';

it('counts containers by phase and keeps only the newest scale events, with totals of all', () => {
  let t = 0;
  const recorder = new FleetStatusRecorder(() => t);
  for (let i = 1; i <= MAX_FLEET_EVENTS + 5; i++) {
    t = i * 1000;
    recorder.record('started', { name: `default-${i}` });
  }
  recorder.record('start-failed', { name: 'default-99', jobId: 'job_1' }, 'x'.repeat(600));
  const status = recorder.status(
    [
      { phase: 'starting', spent: false },
      { phase: 'running', spent: false },
      { phase: 'running', spent: true },
      { phase: 'stopping', spent: true },
    ],
    { minIdle: 1, max: 4, image: 'slipway/base:latest' },
  );
  expect(status).toMatchObject({ containers: 4, starting: 1, idle: 1, busy: 1, minIdle: 1, max: 4 });
  expect(status.totals).toEqual({ started: MAX_FLEET_EVENTS + 5, exited: 0, scaledDown: 0, startFailed: 1 });
  expect(status.events).toHaveLength(MAX_FLEET_EVENTS);
  expect(status.events[0]!.agent).toBe('default-7');
  expect(status.events.at(-1)).toMatchObject({ kind: 'start-failed', jobId: 'job_1' });
  expect(status.events.at(-1)!.detail).toHaveLength(500);
});

it('names the custom images it keeps warm, recent ones first, with their warm agents', () => {
  const recorder = new FleetStatusRecorder(() => 0);
  const status = recorder.status(
    [
      { phase: 'running', spent: false, image: 'slipway/base:latest' },
      { phase: 'running', spent: false, image: 'busybox:latest' },
      { phase: 'starting', spent: false, image: 'busybox:latest' },
      // Bound to a job, or spent: not warm.
      { phase: 'running', spent: false, image: 'alpine:3', jobId: 'job_1' },
      { phase: 'running', spent: true, image: 'node:22' },
      { phase: 'running', spent: false, image: 'leftover:1' },
    ],
    {
      minIdle: 1,
      max: 8,
      image: 'slipway/base:latest',
      warmPerImage: 2,
      recentImages: ['alpine:3', 'busybox'],
    },
  );
  expect(status.warmPerImage).toBe(2);
  expect(status.warmImages).toEqual([
    { image: 'alpine:3', idle: 0, starting: 0 },
    { image: 'busybox:latest', idle: 1, starting: 1 },
    { image: 'leftover:1', idle: 1, starting: 0 },
  ]);
});
