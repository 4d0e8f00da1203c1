import { describe, expect, it } from 'vitest';
import type { FleetView, QueueView, RunView } from '../protocol/index.js';
import { agentsText, ago, queueText, runsTable, statusText, table } from './views.js';

const NOW = Date.parse('2026-01-01T12:00:00Z');
const at = (secondsAgo: number) => new Date(NOW - secondsAgo * 1000).toISOString();

function run(o: Partial<RunView> = {}): RunView {
  return {
    id: 'run_1',
    number: 7,
    pipelineFile: 'azure-pipelines.yml',
    status: 'completed',
    result: 'failed',
    startedAt: at(70),
    durationSeconds: 61.5,
    rerunOf: null,
    buildNumber: '7',
    tags: [],
    source: { branch: 'refs/heads/main', repository: 'shop' },
    reason: 'IndividualCI',
    untrusted: false,
    createdAt: at(75),
    finishedAt: at(8),
    jobs: [],
    ...o,
  };
}

describe('CLI views', () => {
  it('says how long ago in one unit', () => {
    expect([
      ago(at(5), NOW),
      ago(at(300), NOW),
      ago(at(7200), NOW),
      ago(at(200_000), NOW),
      ago(null, NOW),
    ]).toEqual(['5s ago', '5m ago', '2h ago', '2d ago', '']);
  });

  it('pads every column but the last', () => {
    expect(
      table(
        ['A', 'BB'],
        [
          ['xxx', 'y'],
          ['z', ''],
        ],
      ),
    ).toBe('A    BB\nxxx  y\nz\n');
  });

  it('lists runs with their origin, reason, duration and age; a re-run names its run', () => {
    const text = runsTable(
      [run(), run({ number: 8, rerunOf: { id: 'run_1', number: 7, failedOnly: true }, reason: 'Manual' })],
      NOW,
    );
    expect(text.split('\n')[1]).toMatch(/^#7\s+failed\s+shop\s+main\s+IndividualCI\s+1m2s\s+1m ago$/);
    expect(text).toContain('Manual (re-run of #7)');
  });

  it('shows a job that waits with how long, and never lets a name act on the terminal', () => {
    const text = statusText(
      run({
        status: 'running',
        result: null,
        durationSeconds: null,
        finishedAt: null,
        jobs: [
          {
            id: 'job_1',
            name: 'evil\x1b]0;pwned\x07',
            displayName: 'evil',
            status: 'queued',
            result: null,
            reason: "waiting for an agent in pool 'default': 0 idle, 2 busy",
            attempt: 0,
            agentName: null,
            dependsOn: [],
            outputs: {},
            queuedAt: at(42),
            startedAt: null,
            finishedAt: null,
            steps: [],
          },
        ],
      }),
      NOW,
    );
    expect(text).toMatch(/^Run #7 running in 1m10s · shop · main · IndividualCI\n/);
    expect(text).toContain("queued  waiting 42.0s — waiting for an agent in pool 'default': 0 idle, 2 busy");
    expect(text).not.toContain('\x1b');
    expect(text).not.toContain('\x07');
  });

  it('explains the queue and lists what nothing could serve', () => {
    const q: QueueView = {
      queued: [
        {
          jobId: 'j',
          jobName: 'build',
          displayName: 'build',
          runId: 'r',
          runNumber: 3,
          pipelineFile: 'p.yml',
          pool: 'default',
          demands: ['docker'],
          image: null,
          kind: 'waiting',
          reason:
            "waiting for an agent in pool 'default' that meets docker: 0 idle, 1 busy; the fleet is at its maximum of 4 containers",
          queuedAt: at(90),
          waitedSeconds: 90,
          attempt: 0,
        },
      ],
      failed: [
        {
          jobId: 'k',
          jobName: 'gpu',
          runId: 'r',
          runNumber: 2,
          pool: 'default',
          demands: ['gpu'],
          reason: "no agent in pool 'default' meets the demands of job 'gpu': gpu",
          failedAt: at(600),
        },
      ],
    };
    const text = queueText(q, NOW);
    expect(text).toMatch(
      /#3\s+build\s+default\s+1m30s\s+waiting\s+waiting for an agent .* the fleet is at its maximum of 4 containers/,
    );
    expect(text).toMatch(
      /Failed without an agent \(last 24 hours\):\nRUN\s+JOB\s+POOL\s+FAILED\s+WHY\n#2\s+gpu\s+default\s+10m ago\s+no agent/,
    );
    expect(queueText({ queued: [], failed: [] }, NOW)).toBe('nothing is queued\n');
  });
});

describe('slipway agents: fleets', () => {
  const fleet = (status: Partial<NonNullable<FleetView['status']>>): FleetView => ({
    pool: 'default',
    id: 'local',
    lastSeenAt: at(2),
    live: true,
    capabilities: {},
    status: {
      containers: 3,
      starting: 1,
      idle: 2,
      busy: 0,
      minIdle: 1,
      max: 4,
      image: 'slipway/base:latest',
      totals: { started: 3, exited: 0, scaledDown: 0, startFailed: 0 },
      events: [],
      ...status,
    },
  });

  it('names the custom images it keeps warm agents for', () => {
    const text = agentsText(
      [],
      [
        fleet({
          warmPerImage: 1,
          warmImages: [
            { image: 'node:22', idle: 1, starting: 0 },
            { image: 'busybox:latest', idle: 0, starting: 1 },
          ],
        }),
      ],
      NOW,
    );
    expect(text).toContain(
      'warm for recent images (1 each): node:22 (1 idle), busybox:latest (0 idle, 1 starting)',
    );
  });

  it('says nothing of images for a fleet that keeps none warm, or an older one', () => {
    expect(agentsText([], [fleet({ warmImages: [] }), fleet({})], NOW)).not.toContain('warm for recent');
  });
});
