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
