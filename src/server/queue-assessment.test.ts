import { describe, expect, it } from 'vitest';
import { parsePipeline } from '../pipeline/index.js';
import type { AgentRow, FleetRow, JobRow } from '../store/types.js';
import { assessQueuedJob, type PoolServers } from './queue-assessment.js';

function job(yaml: string): JobRow {
  const plan = parsePipeline(yaml, 'p.yml').jobs[0]!;
  return {
    id: 'job_1',
    runId: 'run_1',
    idx: 0,
    name: plan.name,
    displayName: plan.displayName,
    plan,
    pool: plan.pool.name,
    dependsOn: [],
    status: 'queued',
    result: null,
    reason: null,
    attempt: 0,
    agentId: null,
    agentName: null,
    leaseExpiresAt: null,
    cancelRequested: false,
    outputs: {},
    queuedAt: 0,
    startedAt: null,
    finishedAt: null,
  };
}

function agent(id: string, o: Partial<AgentRow> = {}): AgentRow {
  return {
    id,
    pool: 'default',
    name: id,
    publicKey: '',
    capabilities: {},
    version: 't',
    sessionId: `sess_${id}`,
    boundJobId: null,
    draining: false,
    singleJob: false,
    claims: 0,
    lastSeenAt: 0,
    createdAt: 0,
    ...o,
  };
}

function servers(o: {
  agents?: AgentRow[];
  busy?: string[];
  fleets?: FleetRow[];
  allowDockerSocket?: boolean;
  allowDind?: boolean;
  allowRootlessBuilds?: boolean;
}) {
  return {
    pool: {
      name: 'default',
      settings: {
        allowDockerSocket: o.allowDockerSocket ?? false,
        allowDind: o.allowDind ?? false,
        allowRootlessBuilds: o.allowRootlessBuilds ?? false,
      },
      createdAt: 0,
    },
    agents: o.agents ?? [],
    busyAgentIds: new Set(o.busy ?? []),
    fleets: o.fleets ?? [],
  } satisfies PoolServers;
}

const fleet: FleetRow = { pool: 'default', id: 'f', capabilities: { docker: '1' }, lastSeenAt: 0 };
/** A fleet that reported running as many containers as it may. */
const fullFleet: FleetRow = {
  ...fleet,
  status: {
    containers: 2,
    starting: 0,
    idle: 0,
    busy: 2,
    minIdle: 1,
    max: 2,
    image: 'slipway/base:latest',
    totals: { started: 2, exited: 0, scaledDown: 0, startFailed: 0 },
    events: [],
  },
};
const HOST = 'steps:\n- script: echo hi\n';
const GPU = 'pool: { name: default, demands: [gpu] }\nsteps:\n- script: echo hi\n';
const CONTAINER = 'container: img:1\nsteps:\n- script: echo hi\n';

describe('assessQueuedJob', () => {
  it.each([
    [
      'no agent, no fleet',
      HOST,
      {},
      { kind: 'unserved', reason: "no agent and no fleet serve pool 'default'" },
    ],
    ['an idle agent', HOST, { agents: [agent('a')] }, { kind: 'ready' }],
    [
      'only a busy agent',
      HOST,
      { agents: [agent('a')], busy: ['a'] },
      { kind: 'waiting', reason: "waiting for an agent in pool 'default': 0 idle, 1 busy" },
    ],
    [
      'a busy agent that meets the demands, an idle one that does not',
      GPU,
      { agents: [agent('a', { capabilities: { gpu: '1' } }), agent('b')], busy: ['a'] },
      { kind: 'waiting', reason: "waiting for an agent in pool 'default' that meets gpu: 0 idle, 1 busy" },
    ],
    [
      'only agents that cannot meet the demands',
      GPU,
      { agents: [agent('b')] },
      { kind: 'impossible', reason: "no agent in pool 'default' meets the demands of job 'job': gpu" },
    ],
    [
      'an agent still to announce its capabilities',
      GPU,
      { agents: [agent('b'), agent('new', { sessionId: null })] },
      { kind: 'waiting', reason: "waiting for an agent of pool 'default' to announce its capabilities" },
    ],
    [
      'a fleet agent bound to another job',
      GPU,
      { agents: [agent('bound', { boundJobId: 'job_2', capabilities: { gpu: '1' } })] },
      { kind: 'unserved', reason: "no agent and no fleet serve pool 'default'" },
    ],
    [
      'a fleet whose agents meet the demands',
      'pool: { name: default, demands: [docker] }\nsteps:\n- script: echo hi\n',
      { fleets: [fleet] },
      {
        kind: 'waiting',
        reason:
          "waiting for an agent in pool 'default' that meets docker: 0 idle, 0 busy; the fleet may start one",
      },
    ],
    [
      'a container job and a live fleet',
      CONTAINER,
      { fleets: [fleet] },
      { kind: 'waiting', reason: "waiting for the fleet of pool 'default' to start its container" },
    ],
    [
      'a fleet at its maximum whose agents meet the demands',
      'pool: { name: default, demands: [docker] }\nsteps:\n- script: echo hi\n',
      { fleets: [fullFleet] },
      {
        kind: 'waiting',
        reason:
          "waiting for an agent in pool 'default' that meets docker: 0 idle, 0 busy; the fleet is at its maximum of 2 containers",
      },
    ],
    [
      'a container job and a fleet at its maximum',
      CONTAINER,
      { fleets: [fullFleet] },
      {
        kind: 'waiting',
        reason: "waiting for the fleet of pool 'default': it runs its maximum of 2 containers",
      },
    ],
    [
      'a container job, one fleet at its maximum and one with room',
      CONTAINER,
      { fleets: [fullFleet, { ...fullFleet, id: 'f2', status: { ...fullFleet.status!, containers: 1 } }] },
      { kind: 'waiting', reason: "waiting for the fleet of pool 'default' to start its container" },
    ],
    [
      'a container job and no fleet',
      CONTAINER,
      { agents: [agent('a')] },
      {
        kind: 'impossible',
        reason:
          "job 'job' runs in a container (img:1), and no fleet serves pool 'default': start one with 'slipway up' or 'slipway fleet'",
      },
    ],
    [
      'docker: socket on a pool that does not allow it',
      'container: img:1\ndocker: socket\nsteps:\n- script: echo hi\n',
      { fleets: [fleet] },
      {
        kind: 'impossible',
        reason:
          "job 'job' asks for 'docker: socket', which pool 'default' does not allow (it gives the job root on the host): allow it with 'slipway pool update default --allow-docker-socket'",
      },
    ],
    [
      'docker: dind on a pool that does not allow it',
      'docker: dind\nsteps:\n- script: docker version\n',
      { fleets: [fleet] },
      {
        kind: 'impossible',
        reason:
          "job 'job' asks for 'docker: dind', which pool 'default' does not allow: allow it with 'slipway pool update default --allow-dind'",
      },
    ],
    [
      'docker: dind on a pool that allows it, with a fleet',
      'docker: dind\nsteps:\n- script: docker version\n',
      { fleets: [fleet], allowDind: true },
      { kind: 'waiting', reason: "waiting for the fleet of pool 'default' to start its container" },
    ],
    [
      'docker: rootless on a pool that does not allow it',
      'container: slipway/buildah\ndocker: rootless\nsteps:\n- script: buildah bud .\n',
      { fleets: [fleet] },
      {
        kind: 'impossible',
        reason:
          "job 'job' asks for 'docker: rootless', which pool 'default' does not allow: allow it with 'slipway pool update default --allow-rootless-builds'",
      },
    ],
    [
      'docker: rootless on a pool that allows it, with a fleet',
      'container: slipway/buildah\ndocker: rootless\nsteps:\n- script: buildah bud .\n',
      { fleets: [fleet], allowRootlessBuilds: true },
      { kind: 'waiting' },
    ],
    [
      'docker: socket on a pool that allows it, with a fleet',
      'docker: socket\nsteps:\n- script: docker version\n',
      { fleets: [fleet], allowDockerSocket: true },
      { kind: 'waiting' },
    ],
    [
      'only a draining agent',
      HOST,
      { agents: [agent('a', { draining: true })] },
      { kind: 'waiting', reason: "waiting for an agent in pool 'default': 0 idle, 0 busy, 1 draining" },
    ],
  ])('%s', (_what, yaml, s, expected) => {
    expect(assessQueuedJob(job(yaml), servers(s))).toMatchObject(expected);
  });
});
