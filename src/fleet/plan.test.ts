import { describe, expect, it } from 'vitest';
import type { PoolDemand, QueuedJobView } from '../protocol/schemas.js';
import {
  allocateNames,
  type PlanInput,
  type PlannedUnit,
  planFleet,
  refusal,
  rememberImages,
  warmImageOf,
} from './plan.js';

const IMAGE = 'slipway/base:latest';
const NOW = 100_000;

function job(id: string, o: Partial<QueuedJobView> = {}): QueuedJobView {
  return {
    jobId: id,
    runId: 'r',
    name: id,
    image: null,
    services: {},
    docker: 'none',
    env: {},
    demands: [],
    queuedAt: null,
    ...o,
  };
}
type Agent = PoolDemand['agents'][number];
const idleAgent = (name: string): Agent => ({
  name,
  busy: false,
  draining: false,
  boundJobId: null,
  polling: true,
});
const busyAgent = (name: string): Agent => ({ ...idleAgent(name), busy: true, polling: false });
function unit(name: string, o: Partial<PlannedUnit> = {}): PlannedUnit {
  return { name, phase: 'running', startedAt: 0, registeredAt: 1, idleSince: 0, spent: false, ...o };
}

type PlanOptions = {
  queued?: QueuedJobView[];
  agents?: Agent[];
  units?: PlannedUnit[];
  minIdle?: number;
  max?: number;
  accepting?: boolean;
  skip?: string[];
  allowDind?: boolean;
  allowDockerSocket?: boolean;
  /** Recent custom images, most recent first. */
  recent?: string[];
  perImage?: number;
};

function planInput(o: PlanOptions): PlanInput {
  return {
    demand: { queued: o.queued ?? [], agents: o.agents ?? [], running: [] },
    policy: {
      pool: 'p',
      allowDind: o.allowDind ?? false,
      allowDockerSocket: o.allowDockerSocket ?? false,
      allowRootlessBuilds: false,
    },
    units: o.units ?? [],
    defaultImage: IMAGE,
    minIdle: o.minIdle ?? 1,
    max: o.max ?? 4,
    accepting: o.accepting ?? true,
    skip: new Set(o.skip ?? []),
    now: NOW,
    scaleDownDelayMs: 30_000,
    registerTimeoutMs: 60_000,
    recentImages: o.recent ?? [],
    warmPerImage: o.perImage ?? 0,
  };
}

function plan(o: PlanOptions) {
  const p = planFleet(planInput(o));
  return {
    warm: p.warm,
    warmImages: p.warmImages,
    cold: p.cold.map((j) => j.jobId),
    drain: p.drain,
    stale: p.stale,
    refuse: p.refuse.map((r) => r.jobId),
  };
}

const none = { warm: 0, warmImages: [], cold: [], drain: [], stale: [], refuse: [] };

describe('planFleet', () => {
  it('tells a top-up from a start a job waits for, and which jobs a free agent is there for', () => {
    // The free warm agent takes j1: the second warm agent is a top-up, no job waits for it.
    const topUp = planFleet(
      planInput({ queued: [job('j1')], agents: [idleAgent('p-1')], units: [unit('p-1')], minIdle: 1 }),
    );
    expect(topUp).toMatchObject({ warm: 1, takenByFree: ['j1'], jobsWait: false });
    // Two jobs, one free agent: j2 waits for the agent started for it.
    const waits = planFleet(
      planInput({
        queued: [job('j1'), job('j2')],
        agents: [idleAgent('p-1')],
        units: [unit('p-1')],
        minIdle: 0,
      }),
    );
    expect(waits).toMatchObject({ warm: 1, takenByFree: ['j1'], jobsWait: true });
  });

  it.each<[string, Parameters<typeof plan>[0], Partial<ReturnType<typeof plan>>]>([
    ['an empty fleet starts min-idle warm agents', {}, { warm: 1 }],
    ['min-idle 0 starts nothing without work', { minIdle: 0 }, {}],
    ['one idle agent is enough for min-idle 1', { units: [unit('p-1')], agents: [idleAgent('p-1')] }, {}],
    ['a starting agent counts as idle capacity', { units: [unit('p-1', { phase: 'starting' })] }, {}],
    [
      'a queued job takes the idle agent; another starts to keep min-idle',
      { queued: [job('a')], units: [unit('p-1')], agents: [idleAgent('p-1')] },
      { warm: 1 },
    ],
    [
      'jobs beyond idle capacity start more, up to max in all',
      {
        queued: [job('a'), job('b'), job('c'), job('d'), job('e')],
        units: [unit('p-1')],
        agents: [idleAgent('p-1')],
      },
      { warm: 3 },
    ],
    [
      'busy agents count toward max',
      {
        queued: [job('a'), job('b')],
        max: 2,
        units: [unit('p-1'), unit('p-2')],
        agents: [busyAgent('p-1'), busyAgent('p-2')],
      },
      {},
    ],
    [
      'a spent agent (took its one job) is not idle capacity',
      { units: [unit('p-1', { spent: true })], agents: [] },
      { warm: 1 },
    ],
    [
      'a container job of the default image is warm work',
      { queued: [job('a', { image: IMAGE })], minIdle: 0 },
      { warm: 1 },
    ],
    [
      'another image gets its own cold agent, bound to the job',
      { queued: [job('a', { image: 'busybox' })], units: [unit('p-1')], agents: [idleAgent('p-1')] },
      { cold: ['a'] },
    ],
    [
      'services get a cold agent even in the default image',
      {
        queued: [job('a', { services: { db: { image: 'pg', env: {}, ports: [] } } })],
        units: [unit('p-1')],
        agents: [idleAgent('p-1')],
      },
      { cold: ['a'] },
    ],
    [
      'a job that has its cold agent already gets no second one',
      {
        queued: [job('a', { image: 'busybox' })],
        units: [unit('p-1'), unit('p-2', { jobId: 'a', phase: 'starting' })],
        agents: [idleAgent('p-1')],
      },
      {},
    ],
    [
      'queue order decides who gets the last slot',
      { queued: [job('a', { image: 'busybox' }), job('b')], max: 1, minIdle: 0 },
      { cold: ['a'] },
    ],
    [
      'docker: dind and socket are refused where the pool does not allow them, nothing starts for them',
      {
        queued: [job('a', { docker: 'socket' }), job('b', { docker: 'dind', image: 'x' })],
        units: [unit('p-1')],
        agents: [idleAgent('p-1')],
      },
      { refuse: ['a', 'b'] },
    ],
    [
      'a dind job in the default image gets a cold agent of its own where the pool allows it, never a warm one',
      {
        queued: [job('a', { docker: 'dind' }), job('b', { docker: 'socket' })],
        units: [unit('p-1')],
        agents: [idleAgent('p-1')],
        allowDind: true,
        allowDockerSocket: true,
      },
      { cold: ['a', 'b'] },
    ],
    [
      'each policy allows only its own mode',
      {
        queued: [job('a', { docker: 'dind' }), job('b', { docker: 'socket' })],
        units: [unit('p-1')],
        agents: [idleAgent('p-1')],
        allowDind: true,
      },
      { cold: ['a'], refuse: ['b'] },
    ],
    [
      'refused or given-up jobs are skipped',
      { queued: [job('a', { image: 'x' })], skip: ['a'], units: [unit('p-1')], agents: [idleAgent('p-1')] },
      {},
    ],
    [
      'idle agents above min-idle go after the delay, highest name first',
      {
        units: [unit('p-1'), unit('p-2'), unit('p-3')],
        agents: [idleAgent('p-1'), idleAgent('p-2'), idleAgent('p-3')],
      },
      { drain: ['p-3', 'p-2'] },
    ],
    [
      'idle agents above min-idle stay until the delay passed',
      {
        units: [unit('p-1', { idleSince: NOW - 2_000 }), unit('p-2', { idleSince: NOW - 1_000 })],
        agents: [idleAgent('p-1'), idleAgent('p-2')],
      },
      {},
    ],
    [
      'busy agents are never drained',
      { minIdle: 0, units: [unit('p-1'), unit('p-2')], agents: [busyAgent('p-1'), idleAgent('p-2')] },
      { drain: ['p-2'] },
    ],
    [
      'draining: nothing starts, every idle agent goes, busy ones stay',
      {
        accepting: false,
        queued: [job('a'), job('b', { image: 'x' })],
        units: [unit('p-1'), unit('p-2'), unit('p-3', { phase: 'starting' })],
        agents: [idleAgent('p-1'), busyAgent('p-2')],
      },
      { drain: ['p-1'] },
    ],
    [
      'a recent custom image gets no warm agent while a job waits for one of its own',
      { queued: [job('a', { image: 'busybox' })], recent: ['busybox'], perImage: 1, minIdle: 0 },
      { cold: ['a'] },
    ],
    [
      'once its job has its agent, a recent custom image gets a warm one for the next job',
      {
        queued: [job('a', { image: 'busybox' })],
        units: [unit('p-1', { jobId: 'a', phase: 'starting' })],
        recent: ['busybox'],
        perImage: 1,
        minIdle: 0,
      },
      { warmImages: ['busybox:latest'] },
    ],
    [
      'jobs that find no room: idle agents of custom images go and none starts again meanwhile',
      {
        queued: [job('a'), job('b')],
        max: 2,
        minIdle: 0,
        units: [
          unit('p-1', { image: 'x:latest', idleSince: NOW }),
          unit('p-2', { image: 'y:latest', idleSince: NOW }),
        ],
        agents: [idleAgent('p-1'), idleAgent('p-2')],
        recent: ['x', 'y'],
        perImage: 1,
      },
      { drain: ['p-2', 'p-1'] },
    ],
    [
      'the next job in that image takes its warm agent: nothing cold starts, another warm one does',
      {
        queued: [job('b', { image: 'busybox:latest' })],
        units: [unit('p-1', { image: 'busybox:latest' })],
        agents: [idleAgent('p-1')],
        recent: ['busybox'],
        perImage: 1,
        minIdle: 0,
      },
      { warmImages: ['busybox:latest'] },
    ],
    [
      'a warm agent of a custom image does not count toward min-idle of the default image',
      {
        units: [unit('p-1', { image: 'busybox:latest' })],
        agents: [idleAgent('p-1')],
        recent: ['busybox'],
        perImage: 1,
      },
      { warm: 1 },
    ],
    [
      'per-image cap: one warm agent per image is enough',
      {
        units: [unit('p-1', { image: 'busybox:latest', idleSince: NOW })],
        agents: [idleAgent('p-1')],
        recent: ['busybox', 'alpine'],
        perImage: 1,
        minIdle: 0,
      },
      { warmImages: ['alpine:latest'] },
    ],
    [
      'warm agents of custom images stay within max, most recent image first',
      { recent: ['c', 'b', 'a'], perImage: 2, minIdle: 1, max: 4 },
      { warm: 1, warmImages: ['c:latest', 'c:latest'] },
    ],
    [
      'warm agents of custom images leave one unit free for a job in an image not seen lately',
      { recent: ['x', 'y'], perImage: 1, minIdle: 0, max: 2 },
      { warmImages: ['x:latest'] },
    ],
    [
      'a more recent image that lacks its warm agent makes an idle one of a less recent image go',
      {
        max: 3,
        minIdle: 0,
        units: [
          unit('p-1', { image: 'old:latest', idleSince: NOW }),
          unit('p-2', { image: 'mid:latest', idleSince: NOW }),
        ],
        agents: [idleAgent('p-1'), idleAgent('p-2')],
        recent: ['new', 'mid', 'old'],
        perImage: 1,
      },
      { drain: ['p-1'] },
    ],
    [
      'a less recent image never pushes out a more recent one',
      {
        max: 2,
        minIdle: 0,
        units: [unit('p-1', { image: 'new:latest', idleSince: NOW })],
        agents: [idleAgent('p-1')],
        recent: ['new', 'old'],
        perImage: 1,
      },
      {},
    ],
    [
      'a cold job with a bound agent is not also counted against a warm one of its image',
      {
        queued: [job('a', { image: 'busybox' })],
        units: [unit('p-1', { jobId: 'a', phase: 'starting' }), unit('p-2', { image: 'busybox:latest' })],
        agents: [idleAgent('p-2')],
        recent: ['busybox'],
        perImage: 1,
        minIdle: 0,
      },
      {},
    ],
    [
      'a job with services never takes a warm agent of its image',
      {
        queued: [job('a', { image: 'busybox', services: { db: { image: 'pg', env: {}, ports: [] } } })],
        units: [unit('p-1', { image: 'busybox:latest', idleSince: NOW })],
        agents: [idleAgent('p-1')],
        recent: ['busybox'],
        perImage: 1,
        minIdle: 0,
      },
      { cold: ['a'] },
    ],
    [
      'an image no longer recent: its idle agent goes after the delay',
      {
        units: [unit('p-1', { image: 'old:latest' }), unit('p-2', { image: 'new:latest' })],
        agents: [idleAgent('p-1'), idleAgent('p-2')],
        recent: ['new'],
        perImage: 1,
        minIdle: 0,
      },
      { drain: ['p-1'] },
    ],
    [
      'above the per-image cap, idle agents of an image go after the delay',
      {
        units: [unit('p-1', { image: 'x:latest' }), unit('p-2', { image: 'x:latest', idleSince: NOW })],
        agents: [idleAgent('p-1'), idleAgent('p-2')],
        recent: ['x'],
        perImage: 1,
        minIdle: 0,
      },
      { drain: ['p-1'] },
    ],
    [
      'a job that finds no room makes an idle agent of the least recent image go at once',
      {
        queued: [job('a')],
        max: 2,
        minIdle: 0,
        units: [
          unit('p-1', { image: 'new:latest', idleSince: NOW }),
          unit('p-2', { image: 'old:latest', idleSince: NOW }),
        ],
        agents: [idleAgent('p-1'), idleAgent('p-2')],
        recent: ['new', 'old'],
        perImage: 1,
      },
      { drain: ['p-2'] },
    ],
    [
      'a warm agent a queued job of its image will take is never the one to go',
      {
        queued: [job('a', { image: 'x' }), job('b')],
        max: 1,
        minIdle: 0,
        units: [unit('p-1', { image: 'x:latest', idleSince: NOW })],
        agents: [idleAgent('p-1')],
        recent: ['x'],
        perImage: 1,
      },
      {},
    ],
    [
      'an agent that never registered is stale after the timeout',
      { units: [unit('p-1', { registeredAt: undefined, startedAt: NOW - 61_000 })] },
      { warm: 1, stale: ['p-1'] },
    ],
  ])('%s', (_name, input, expected) => {
    expect(plan(input)).toEqual({ ...none, ...expected });
  });
});

describe('warmImageOf', () => {
  it.each<[string, Partial<QueuedJobView>, string | null]>([
    ['no image: the default one', {}, IMAGE],
    ['an image without a tag is :latest', { image: 'busybox' }, 'busybox:latest'],
    ['a digest stays as written', { image: 'busybox@sha256:ab' }, 'busybox@sha256:ab'],
    ['services: only an agent of its own', { services: { db: { image: 'pg', env: {}, ports: [] } } }, null],
    ['its own engine: only an agent of its own', { docker: 'dind' }, null],
    ['container env is no obstacle (the agent applies it)', { image: 'x:1', env: { A: 'b' } }, 'x:1'],
  ])('%s', (_name, o, expected) => {
    expect(warmImageOf(job('j', o), IMAGE)).toBe(expected);
  });
});

describe('rememberImages', () => {
  const o = { defaultImage: IMAGE, now: NOW, ttlMs: 10_000, limit: 2 };
  it.each<[string, Array<[string, number]>, QueuedJobView[], Partial<typeof o>, string[]]>([
    ['a queued custom image is remembered now', [], [job('a', { image: 'x' })], {}, ['x:latest']],
    ['the default image is not a custom one', [], [job('a'), job('b', { image: IMAGE })], {}, []],
    [
      'jobs with services are not warm work',
      [],
      [job('a', { image: 'x', services: { s: { image: 'y', env: {}, ports: [] } } })],
      {},
      [],
    ],
    [
      'most recent first',
      [['old:latest', NOW - 5_000]],
      [job('a', { image: 'new' })],
      {},
      ['new:latest', 'old:latest'],
    ],
    ['an image unused for the whole window is forgotten', [['old:latest', NOW - 10_000]], [], {}, []],
    [
      'at most `limit`, the least recent go',
      [
        ['a:1', NOW - 3],
        ['b:1', NOW - 2],
        ['c:1', NOW - 1],
      ],
      [],
      {},
      ['c:1', 'b:1'],
    ],
    [
      'seen again: its time is renewed',
      [
        ['a:1', NOW - 9_000],
        ['b:1', NOW - 1],
      ],
      [job('j', { image: 'a:1' })],
      {},
      ['a:1', 'b:1'],
    ],
  ])('%s', (_name, seen, queued, extra, expected) => {
    expect([...rememberImages(new Map(seen), queued, { ...o, ...extra }).keys()]).toEqual(expected);
  });
});

describe('allocateNames', () => {
  it('takes the lowest free numbers', () => {
    expect(allocateNames('default', 3, new Set(['default-1', 'default-3']))).toEqual([
      'default-2',
      'default-4',
      'default-5',
    ]);
    expect(allocateNames('gpu', 0, new Set())).toEqual([]);
  });
});

describe('refusal', () => {
  it('names the flag that would allow the job', () => {
    const policy = { pool: 'builds', allowDind: false, allowDockerSocket: false, allowRootlessBuilds: false };
    expect(refusal(job('j', { docker: 'dind' }), policy)).toBe(
      "job 'j' asks for 'docker: dind', which pool 'builds' does not allow: allow it with 'slipway pool update builds --allow-dind'",
    );
    expect(refusal(job('j', { docker: 'socket' }), policy)).toContain(
      "allow it with 'slipway pool update builds --allow-docker-socket'",
    );
    expect(refusal(job('j', { docker: 'rootless' }), policy)).toContain(
      "allow it with 'slipway pool update builds --allow-rootless-builds'",
    );
    expect(refusal(job('j', { docker: 'rootless' }), { ...policy, allowRootlessBuilds: true })).toBeNull();
    expect(refusal(job('j'), policy)).toBeNull();
  });
});
