import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRunRequest } from '../../protocol/schemas.js';
import { type ServiceWorld, serviceWorld } from '../../test-support/services.js';
import { jobsToRunAgain } from '../scheduler.js';
import { QueueService } from './queue.js';
import { RunService } from './runs.js';

// What people look at: the queue with its reasons, re-runs, agents by state, the runs list.
let w: ServiceWorld;
let queue: QueueService;
let runs: RunService;

beforeEach(async () => {
  w = await serviceWorld();
  queue = new QueueService({
    store: w.store,
    clock: w.clock,
    poolServers: (p) => w.scheduler.poolServers(p),
  });
  runs = new RunService({
    store: w.store,
    scheduler: w.scheduler,
    notifier: w.notifier,
    workspaces: undefined as never,
    clock: w.clock,
  });
});
afterEach(() => w.stop());

const body = (content: string, extra: Record<string, unknown> = {}) =>
  createRunRequest.parse({ pipeline: { file: 'p.yml', content }, ...extra });

/** Claims and finishes `jobName` of `runId` on `agent` with `result`. */
async function finish(runId: string, jobName: string, agentName: string, result: 'succeeded' | 'failed') {
  const job = (await w.store.listJobs(runId)).find((j) => j.name === jobName)!;
  const agent = (await w.store.listAgents()).find((a) => a.name === agentName)!;
  const spec = await w.scheduler.claim(job.id, agent);
  await w.scheduler.complete(job.id, spec.epoch, result, result === 'failed' ? 'exit code 1' : undefined, {
    outputs: { 'a.out': `${jobName}-value` },
  });
}

describe('queue view', () => {
  it('says why each job waits, with a machine-readable kind, and how long', async () => {
    await w.agent('a1', { capabilities: { node: '20' } });
    const [busyJob] = await w.queue('pool: { name: default, demands: [node] }\nsteps: [{ script: a }]\n');
    const a1 = (await w.store.listAgents())[0]!;
    await w.scheduler.claim(busyJob!, a1);
    await w.queue('pool: { name: default, demands: [node] }\nsteps: [{ script: b }]\n');
    await w.store.createPool('empty', { allowDockerSocket: false }, w.clock.now());
    await w.queue('pool: empty\nsteps: [{ script: c }]\n');
    w.clock.advance(7_000);

    const view = await queue.view();
    expect(view.queued.map((q) => [q.runNumber, q.pool, q.kind, q.waitedSeconds])).toEqual([
      [2, 'default', 'waiting', 7],
      [3, 'empty', 'unserved', 7],
    ]);
    expect(view.queued[0]).toMatchObject({
      jobName: 'job',
      demands: ['node'],
      reason: "waiting for an agent in pool 'default' that meets node: 0 idle, 1 busy",
    });
    expect(view.queued[1]!.reason).toBe("no agent and no fleet serve pool 'empty'");
    expect((await queue.view('empty')).queued.map((q) => q.runNumber)).toEqual([3]);
  });

  it('lists jobs that failed because no agent could ever meet their demands', async () => {
    await w.agent('a1', { capabilities: { node: '20' } });
    await w.queue('pool: { name: default, demands: [gpu] }\nsteps: [{ script: a }]\n');
    const view = await queue.view();
    expect(view.queued).toEqual([]);
    expect(view.failed).toHaveLength(1);
    expect(view.failed[0]).toMatchObject({ runNumber: 1, pool: 'default', demands: ['gpu'] });
    expect(view.failed[0]!.reason).toContain('gpu');
  });
});

describe('re-runs', () => {
  const pipeline = [
    'jobs:',
    '- job: build',
    '  steps: [{ script: a }]',
    '- job: lint',
    '  steps: [{ script: b }]',
    '- job: test',
    '  dependsOn: build',
    '  steps: [{ script: c }]',
    '- job: deploy',
    '  dependsOn: test',
    '  steps: [{ script: d }]',
    '',
  ].join('\n');

  it('picks the failed and canceled jobs and everything downstream of them', async () => {
    await w.agent('a1');
    const run = await w.scheduler.createRun(body(pipeline));
    await finish(run.id, 'build', 'a1', 'succeeded');
    await finish(run.id, 'lint', 'a1', 'succeeded');
    await finish(run.id, 'test', 'a1', 'failed');
    expect([...jobsToRunAgain(await w.store.listJobs(run.id))].sort()).toEqual(['deploy', 'test']);
  });

  it('re-runs only what failed, keeping the other jobs as they finished, with the same variables and secrets', async () => {
    await w.agent('a1');
    const run = await w.scheduler.createRun(
      body(pipeline, { variables: { V: 'one' }, secrets: { TOKEN: 's3cret-value' } }),
    );
    await finish(run.id, 'build', 'a1', 'succeeded');
    await finish(run.id, 'lint', 'a1', 'succeeded');
    await finish(run.id, 'test', 'a1', 'failed');
    expect((await w.store.getRun(run.id))!.result).toBe('failed');

    const again = await runs.rerun(String(run.number), true);
    expect(again.number).toBe(2);
    expect(again.rerunOf).toEqual({ id: run.id, number: 1, failedOnly: true });
    const byName = Object.fromEntries(again.jobs.map((j) => [j.name, j]));
    expect(byName.build).toMatchObject({
      status: 'completed',
      result: 'succeeded',
      outputs: { 'a.out': 'build-value' },
    });
    expect(byName.build!.reason).toBe('kept from run 1');
    expect(byName.lint!.status).toBe('completed');
    expect(byName.test!.status).toBe('queued');
    expect(byName.deploy!.status).toBe('pending');

    // The re-run job gets its dependency's kept outputs, the run's variables and its secrets.
    const agent = (await w.store.listAgents())[0]!;
    const spec = await w.scheduler.claim(byName.test!.id, agent);
    expect(spec.dependencies.build).toEqual({ result: 'succeeded', outputs: { 'a.out': 'build-value' } });
    expect(spec.variables.V).toBe('one');
    expect(spec.secrets).toEqual({ TOKEN: 's3cret-value' });
    expect((await w.store.getRun(again.id))!.secrets).toBe((await w.store.getRun(run.id))!.secrets);
    await w.scheduler.complete(byName.test!.id, spec.epoch, 'succeeded');
    await finish(again.id, 'deploy', 'a1', 'succeeded');
    expect((await runs.view(again.id)).result).toBe('succeeded');
  });

  it('re-runs every job without failedOnly, and refuses a failed-only re-run with nothing failed', async () => {
    await w.agent('a1');
    const run = await w.scheduler.createRun(body('steps: [{ script: a }]\n'));
    await finish(run.id, 'job', 'a1', 'succeeded');
    await expect(runs.rerun(run.id, true)).rejects.toThrow(/no failed or canceled job/);
    const again = await runs.rerun(run.id, false);
    expect(again.jobs.map((j) => j.status)).toEqual(['queued']);
    expect(again.rerunOf).toEqual({ id: run.id, number: 1, failedOnly: false });
  });

  it('refuses a failed-only re-run of a run that has not finished', async () => {
    const run = await w.scheduler.createRun(body('steps: [{ script: a }]\n'));
    await expect(runs.rerun(run.id, true)).rejects.toThrow(/has not finished/);
  });
});

describe('agents view', () => {
  it('shows each agent as idle, busy (with its job), draining or offline', async () => {
    await w.agent('idle');
    await w.agent('busy');
    await w.agent('drain');
    await w.agent('gone');
    const [jobId] = await w.queue('steps: [{ script: a }]\n');
    const all = await w.store.listAgents();
    const named = (n: string) => all.find((a) => a.name === n)!;
    await w.scheduler.claim(jobId!, named('busy'));
    await w.store.setAgentDraining(named('drain').id, true);
    // Agents are seen when they poll: the others polled just now, `gone` two minutes ago.
    await w.store.touchAgent(named('gone').id, w.clock.now());
    w.clock.advance(120_000);
    for (const n of ['idle', 'busy', 'drain']) await w.store.touchAgent(named(n).id, w.clock.now());

    const views = await w.pools.listAgents();
    const state = Object.fromEntries(views.map((v) => [v.name, v.state]));
    expect(state).toEqual({ idle: 'idle', busy: 'busy', drain: 'draining', gone: 'offline' });
    const busy = views.find((v) => v.name === 'busy')!;
    expect(busy.currentJob).toEqual({ id: jobId, name: 'job', runId: expect.any(String), runNumber: 1 });
    expect(busy.version).toBe('test');
  });
});

describe('runs list', () => {
  it('filters by status or result and by text, newest first, paged by number', async () => {
    await w.agent('a1');
    const a = await w.scheduler.createRun(
      body('steps: [{ script: a }]\n', { source: { branch: 'refs/heads/main' } }),
    );
    const b = await w.scheduler.createRun(
      body('steps: [{ script: a }]\n', { source: { branch: 'refs/heads/feature/x_y', repository: 'web' } }),
    );
    await w.scheduler.createRun(body('steps: [{ script: a }]\n'));
    await finish(a.id, 'job', 'a1', 'failed');
    await finish(b.id, 'job', 'a1', 'succeeded');
    const numbers = async (f: Parameters<RunService['list']>[1], limit = 50) =>
      (await runs.list(limit, f)).map((r) => r.number);

    expect(await numbers({})).toEqual([3, 2, 1]);
    expect(await numbers({}, 2)).toEqual([3, 2]);
    expect(await numbers({ before: 2 })).toEqual([1]);
    expect(await numbers({ status: 'completed' })).toEqual([2, 1]);
    expect(await numbers({ status: 'failed' })).toEqual([1]);
    expect(await numbers({ status: 'queued' })).toEqual([3]);
    expect(await numbers({ q: 'FEATURE' })).toEqual([2]);
    expect(await numbers({ q: 'web' })).toEqual([2]);
    expect(await numbers({ q: 'x_y' })).toEqual([2]);
    // `_` and `%` are text, not patterns.
    expect(await numbers({ q: 'x%y' })).toEqual([]);
    expect(await numbers({ q: 'p.yml' })).toEqual([3, 2, 1]);
    const done = (await runs.list(1, { status: 'failed' }))[0]!;
    expect(done.durationSeconds).toBeGreaterThanOrEqual(0);
    expect(done.startedAt).not.toBeNull();
  });
});
