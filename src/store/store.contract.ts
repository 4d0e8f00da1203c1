import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JobPlan, PipelinePlan } from '../pipeline/index.js';
import type { JobStatus } from '../protocol/index.js';
import { ConflictError, NotFoundError } from '../shared/errors.js';
import {
  JOB_TRANSITIONS,
  type JobRow,
  type NewToken,
  type RepositoryRow,
  type RunRow,
  type Store,
} from './types.js';

const plan: JobPlan = {
  name: 'build',
  displayName: 'build',
  dependsOn: [],
  condition: 'succeeded()',
  pool: { name: 'default', demands: [] },
  variables: {},
  timeoutInMinutes: 60,
  cancelTimeoutInMinutes: 1,
  continueOnError: false,
  services: {},
  docker: 'none',
  steps: [],
  pos: { line: 1, col: 1 },
};

function job(id: string, runId: string, status: JobStatus = 'pending'): JobRow {
  return {
    id,
    runId,
    idx: 0,
    name: id,
    displayName: id,
    plan,
    pool: 'default',
    dependsOn: [],
    status,
    result: null,
    reason: null,
    attempt: 0,
    agentId: null,
    agentName: null,
    leaseExpiresAt: null,
    cancelRequested: false,
    outputs: {},
    queuedAt: null,
    startedAt: null,
    finishedAt: null,
  };
}

/** The behaviour every Store must have, run against each implementation. */
export function storeContract(name: string, open: () => Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    const pipeline: PipelinePlan = { file: 'p.yml', variables: {}, jobs: [plan] };
    const newRun = async (runId: string, jobs: JobRow[], origin: Partial<RunRow> = {}) =>
      store.createRun(
        {
          id: runId,
          pipelineFile: 'p.yml',
          plan: pipeline,
          variables: {},
          secrets: null,
          workspaceId: null,
          status: 'queued',
          result: null,
          cancelRequested: false,
          buildNumber: null,
          tags: [],
          source: {},
          reason: 'Manual',
          untrusted: false,
          createdAt: 1,
          startedAt: null,
          finishedAt: null,
          ...origin,
        },
        jobs,
      );

    beforeEach(async () => {
      store = await open();
      await store.ensurePool('default', { allowDockerSocket: false }, 0);
    });
    // A store holds connections (PostgreSQL) or a file handle (SQLite): each test ends its own.
    afterEach(async () => {
      await store.close();
    });

    it("replaces a pool's settings, and says when there is no such pool", async () => {
      const updated = await store.updatePoolSettings('default', {
        allowDockerSocket: false,
        allowDind: true,
        dockerEngine: { mtu: 1400 },
      });
      expect(updated?.settings).toEqual({
        allowDockerSocket: false,
        allowDind: true,
        dockerEngine: { mtu: 1400 },
      });
      expect((await store.getPool('default'))?.settings.allowDind).toBe(true);
      expect(await store.updatePoolSettings('nope', { allowDockerSocket: false })).toBeUndefined();
    });

    it('numbers runs one after another and stores their jobs with them', async () => {
      const a = await newRun('r1', [job('j1', 'r1')]);
      const b = await newRun('r2', [job('j2', 'r2'), { ...job('j3', 'r2'), idx: 1 }]);
      expect([a.number, b.number]).toEqual([1, 2]);
      expect((await store.listJobs('r2')).map((j) => j.id)).toEqual(['j2', 'j3']);
    });

    it('keeps where a run came from, why it was queued and whether it is trusted', async () => {
      const source = {
        branch: 'refs/heads/fork-fix',
        commit: 'a'.repeat(40),
        defaultBranch: 'refs/heads/main',
      };
      await newRun('run_pr', [], { source, reason: 'PullRequest', untrusted: true });
      await newRun('run_manual', []);
      expect(await store.getRun('run_pr')).toMatchObject({ source, reason: 'PullRequest', untrusted: true });
      expect(await store.getRun('run_manual')).toMatchObject({
        source: {},
        reason: 'Manual',
        untrusted: false,
      });
    });

    it('keeps variable groups: one per name whatever its case, changed only by compare-and-set', async () => {
      const group = {
        name: 'Shared',
        description: 'for builds',
        variables: { REGION: 'eu' },
        secrets: 'sealed-blob',
        secretNames: ['TOKEN'],
        pools: ['default'],
        repositories: ['app'],
        createdAt: 1,
        updatedAt: 1,
      };
      expect(await store.insertVariableGroup(group)).toBe(true);
      expect(await store.insertVariableGroup({ ...group, name: 'shared' })).toBe(false);
      expect(await store.getVariableGroup('SHARED')).toEqual(group);
      const changed = { ...group, variables: { REGION: 'us' }, updatedAt: 2 };
      expect(await store.updateVariableGroup(changed, 1)).toBe(true);
      // A writer that read the first version loses: nothing it did not see is overwritten.
      expect(await store.updateVariableGroup({ ...group, updatedAt: 3 }, 1)).toBe(false);
      expect((await store.getVariableGroup('shared'))?.variables).toEqual({ REGION: 'us' });
      expect((await store.listVariableGroups()).map((g) => g.name)).toEqual(['Shared']);
      expect(await store.deleteVariableGroup('shared')).toBe(true);
      expect(await store.getVariableGroup('Shared')).toBeUndefined();
    });

    it('keeps the sealed secrets of a job with that job', async () => {
      await newRun('run_s', [
        { ...job('j_s', 'run_s'), secrets: 'sealed-for-j' },
        { ...job('j_t', 'run_s'), idx: 1 },
      ]);
      expect((await store.getJob('j_s'))?.secrets).toBe('sealed-for-j');
      expect((await store.getJob('j_t'))?.secrets).toBeNull();
    });

    it('refuses every job transition the state machine does not allow, changing nothing', async () => {
      const statuses: JobStatus[] = ['pending', 'queued', 'running', 'completed'];
      for (const from of statuses) {
        for (const to of statuses) {
          if (JOB_TRANSITIONS[from].includes(to)) continue;
          const id = `${from}-${to}`;
          await newRun(`run-${id}`, [job(id, `run-${id}`, from)]);
          await expect(store.transitionJob(id, [from], { status: to })).rejects.toThrow(ConflictError);
          expect((await store.getJob(id))!.status).toBe(from);
        }
      }
    });

    it('moves a job only from the state the caller expects', async () => {
      await newRun('r', [job('j', 'r', 'pending')]);
      expect(await store.transitionJob('j', ['queued'], { status: 'running' })).toBe(false);
      expect(await store.transitionJob('j', ['pending'], { status: 'queued', queuedAt: 5 })).toBe(true);
      expect((await store.getJob('j'))!).toMatchObject({ status: 'queued', queuedAt: 5 });
    });

    it('writes the event that announces a job or run change with it, and only when the change won', async () => {
      await newRun('r', [job('j', 'r', 'running')]);
      const announce = (data: { status: 'completed'; result: 'succeeded' | 'failed'; reason: null }) => ({
        runId: 'r',
        event: { kind: 'job' as const, jobId: 'j', jobName: 'j', attempt: 0, step: null, data },
        at: 7,
      });
      const done = { status: 'completed' as const, result: 'succeeded' as const, reason: null };
      expect(await store.transitionJob('j', ['running'], done, announce(done))).toBe(true);
      // A second mover loses, and its event is not written.
      const late = { status: 'completed' as const, result: 'failed' as const, reason: null };
      expect(await store.transitionJob('j', ['running'], late, announce(late))).toBe(false);
      const runDone = {
        runId: 'r',
        event: {
          kind: 'run' as const,
          jobId: null,
          jobName: null,
          attempt: null,
          step: null,
          data: { status: 'completed' as const, result: 'succeeded' as const },
        },
        at: 8,
      };
      expect(
        await store.transitionRun(
          'r',
          ['queued', 'running'],
          { status: 'completed', result: 'succeeded' },
          runDone,
        ),
      ).toBe(true);
      expect(
        await store.transitionRun(
          'r',
          ['queued', 'running'],
          { status: 'completed', result: 'failed' },
          runDone,
        ),
      ).toBe(false);
      const events = await store.listEvents('r', 0, 100);
      expect(events.map((e) => [e.kind, e.at, (e.data as { result?: string }).result])).toEqual([
        ['job', 7, 'succeeded'],
        ['run', 8, 'succeeded'],
      ]);
    });

    it('keeps the test runs a finished job published, and none for a job that published none', async () => {
      await newRun('r', [job('j', 'r', 'running'), job('k', 'r', 'running')]);
      const testRuns = [
        {
          title: 'unit',
          format: 'JUnit',
          files: ['out/TEST-a.xml'],
          total: 3,
          passed: 1,
          failed: 1,
          skipped: 1,
          durationMs: 1250,
          failures: [{ name: 'a.b', message: 'expected 1' }],
        },
      ];
      await store.transitionJob('j', ['running'], { status: 'completed', result: 'succeeded', testRuns });
      await store.transitionJob('k', ['running'], { status: 'completed', result: 'succeeded' });
      expect((await store.getJob('j'))!.testRuns).toEqual(testRuns);
      expect((await store.getJob('k'))!.testRuns ?? []).toEqual([]);
    });

    it('keeps the coverage summaries a finished job published', async () => {
      await newRun('r', [job('j', 'r', 'running'), job('k', 'r', 'running')]);
      const coverage = [
        {
          tool: 'Cobertura' as const,
          file: 'coverage.xml',
          lines: { covered: 8, total: 10 },
          branches: { covered: 1, total: 2 },
          artifact: 'coverage-j',
        },
      ];
      await store.transitionJob('j', ['running'], { status: 'completed', result: 'succeeded', coverage });
      await store.transitionJob('k', ['running'], { status: 'completed', result: 'succeeded' });
      expect((await store.getJob('j'))!.coverage).toEqual(coverage);
      expect((await store.getJob('k'))!.coverage ?? []).toEqual([]);
    });

    it('moves a run only from the state the caller expects, so it finishes exactly once', async () => {
      await newRun('r', [job('j', 'r', 'completed')]);
      expect(await store.transitionRun('r', ['running'], { status: 'completed', result: 'failed' })).toBe(
        false,
      );
      const tries = await Promise.all(
        (['succeeded', 'failed'] as const).map((result) =>
          store.transitionRun('r', ['queued', 'running'], { status: 'completed', result, finishedAt: 9 }),
        ),
      );
      expect(tries.filter(Boolean)).toHaveLength(1);
      const run = (await store.getRun('r'))!;
      expect(run).toMatchObject({ status: 'completed', finishedAt: 9 });
      expect(run.result).toBe(tries[0] ? 'succeeded' : 'failed');
      expect(await store.transitionRun('r', ['queued'], { status: 'running', startedAt: 10 })).toBe(false);
      await expect(store.transitionRun('r', ['completed'], { status: 'running' })).rejects.toThrow(
        ConflictError,
      );
      expect((await store.getRun('r'))!.status).toBe('completed');
    });

    it("lists a run's steps of each job's current attempt, in job then step order", async () => {
      await newRun('r', [job('a', 'r', 'queued'), { ...job('b', 'r', 'queued'), idx: 1 }]);
      await newRun('other', [job('c', 'other', 'queued')]);
      const step = (jobId: string, attempt: number, idx: number) => ({
        jobId,
        attempt,
        idx,
        name: `${jobId}${attempt}.${idx}`,
        state: 'pending' as const,
        result: null,
        reason: null,
        startedAt: null,
        finishedAt: null,
      });
      await store.claimJob('a', { id: 'x', name: 'x' }, 100, 1);
      await store.transitionJob('a', ['running'], { status: 'queued' });
      await store.claimJob('a', { id: 'x', name: 'x' }, 100, 1);
      await store.claimJob('b', { id: 'y', name: 'y' }, 100, 1);
      for (const s of [step('b', 1, 1), step('b', 1, 0), step('a', 1, 0), step('a', 2, 0), step('c', 0, 0)]) {
        await store.upsertStep(s);
      }
      expect((await store.listRunSteps('r')).map((s) => s.name)).toEqual(['a2.0', 'b1.0', 'b1.1']);
    });

    it('lets exactly one claimant win a queued job and starts a new attempt each time', async () => {
      await newRun('r', [job('j', 'r', 'queued')]);
      const [a, b] = await Promise.all([
        store.claimJob('j', { id: 'a1', name: 'a' }, 100, 1),
        store.claimJob('j', { id: 'a2', name: 'b' }, 100, 1),
      ]);
      expect([a.ok, b.ok].filter(Boolean)).toHaveLength(1);
      expect((await store.getJob('j'))!.attempt).toBe(1);
      expect(await store.renewLease('j', 0, 200)).toBe(false);
      expect(await store.renewLease('j', 1, 200)).toBe(true);
    });

    it("writes a claim's tokens, steps and event with the winning claim only, numbered by its attempt", async () => {
      await newRun('r', [job('j', 'r', 'queued')]);
      const writes = (tag: string) => (claimed: JobRow) => ({
        tokens: [
          {
            id: `lease-${tag}`,
            kind: 'job' as const,
            hash: `hash-${tag}`,
            name: 'lease',
            scopes: [],
            pool: null,
            agentName: null,
            agentId: null,
            jobId: claimed.id,
            epoch: claimed.attempt,
            expiresAt: 500,
          },
        ],
        steps: [0, 1].map((idx) => ({
          jobId: claimed.id,
          attempt: claimed.attempt,
          idx,
          name: `${tag}${idx}`,
          state: 'pending' as const,
          result: null,
          reason: null,
          startedAt: null,
          finishedAt: null,
        })),
        announce: {
          runId: 'r',
          event: {
            kind: 'job' as const,
            jobId: claimed.id,
            jobName: claimed.name,
            attempt: claimed.attempt,
            step: null,
            data: { status: 'running' as const, agent: tag },
          },
          at: 3,
        },
      });
      const [a, b] = await Promise.all([
        store.claimJob('j', { id: 'a1', name: 'a' }, 100, 1, writes('a')),
        store.claimJob('j', { id: 'a2', name: 'b' }, 100, 1, writes('b')),
      ]);
      const winner = a.ok ? 'a' : 'b';
      expect([a.ok, b.ok].filter(Boolean)).toHaveLength(1);
      expect(await store.findToken(`hash-${winner}`)).toMatchObject({ jobId: 'j', epoch: 1 });
      expect(await store.findToken(`hash-${winner === 'a' ? 'b' : 'a'}`)).toBeUndefined();
      expect((await store.listSteps('j', 1)).map((s) => s.name)).toEqual([`${winner}0`, `${winner}1`]);
      const events = await store.listEvents('r', 0, 10);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ kind: 'job', attempt: 1, at: 3, data: { agent: winner } });
    });

    it('moves several jobs in one call, each by its own compare-and-set, announcing the winners only', async () => {
      await newRun('r', [job('a', 'r'), { ...job('b', 'r', 'completed'), idx: 1 }]);
      const queued = (id: string) => ({
        id,
        from: ['pending' as const],
        patch: { status: 'queued' as const, queuedAt: 5 },
        announce: {
          runId: 'r',
          event: {
            kind: 'job' as const,
            jobId: id,
            jobName: id,
            attempt: 0,
            step: null,
            data: { status: 'queued' as const },
          },
          at: 5,
        },
      });
      expect(await store.transitionJobs([queued('a'), queued('b')])).toEqual([true, false]);
      expect(await store.transitionJobs([])).toEqual([]);
      expect((await store.getJob('a'))?.status).toBe('queued');
      expect((await store.getJob('b'))?.status).toBe('completed');
      expect((await store.listEvents('r', 0, 10)).map((e) => e.jobId)).toEqual(['a']);
    });

    it('appends logs by offset idempotently and refuses gaps and stale epochs', async () => {
      await newRun('r', [job('j', 'r', 'queued')]);
      await store.claimJob('j', { id: 'a', name: 'a' }, 100, 1);
      const ref = { id: 'j', runId: 'r', name: 'j' };
      expect(await store.appendLog(ref, 1, 0, 0, Buffer.from('abc'), 1)).toEqual({
        ok: true,
        length: 3,
        appended: true,
      });
      expect(await store.appendLog(ref, 1, 0, 0, Buffer.from('abc'), 1)).toEqual({
        ok: true,
        length: 3,
        appended: false,
      });
      expect(await store.appendLog(ref, 1, 0, 1, Buffer.from('bcd'), 1)).toEqual({
        ok: true,
        length: 4,
        appended: true,
      });
      expect(await store.appendLog(ref, 1, 0, 9, Buffer.from('x'), 1)).toMatchObject({
        ok: false,
        reason: 'gap',
      });
      expect(await store.appendLog(ref, 2, 0, 4, Buffer.from('x'), 1)).toMatchObject({
        ok: false,
        reason: 'stale-epoch',
      });
      expect(await store.readLogPage('j', 1, 0, 0, 1024)).toMatchObject({ text: 'abcd' });
    });

    it("keeps a log up to its step's and its job's cap, notes the cut once, and still takes resends", async () => {
      await newRun('r', [job('j', 'r', 'queued')]);
      await store.claimJob('j', { id: 'a', name: 'a' }, 100, 1);
      const ref = { id: 'j', runId: 'r', name: 'j' };
      const limits = {
        jobBytes: 10,
        stepBytes: 6,
        note: (scope: string, at: number) => `[cut ${scope} at ${at}]`,
      };
      const append = (step: number, offset: number, text: string) =>
        store.appendLog(ref, 1, step, offset, Buffer.from(text), 1, limits);
      expect(await append(0, 0, 'abcd')).toEqual({ ok: true, length: 4, appended: true });
      // 'é' is two bytes: the cut never splits a character.
      expect(await append(0, 4, 'eéfgh')).toEqual({ ok: true, length: 10, appended: true, truncated: true });
      expect(await append(0, 10, 'more')).toEqual({ ok: true, length: 14, appended: false, truncated: true });
      expect(await append(0, 4, 'eéfgh')).toMatchObject({ ok: true, length: 14, truncated: true });
      expect(await append(1, 0, '12345678')).toMatchObject({ ok: true, length: 8, truncated: true });
      const log = async (step?: number) => {
        let text = '';
        for (let after = 0; ; ) {
          const page = await store.readLogPage('j', 1, step, after, 2);
          if (!page) return text;
          text += page.text;
          after = page.next;
        }
      };
      expect(await log(0)).toBe('abcde\n[cut step at 5]\n');
      expect(await log(1)).toBe('12345\n[cut job at 10]\n');
      expect(await log()).toBe(`${await log(0)}${await log(1)}`);
    });

    it('pages events by bytes, always at least one', async () => {
      await newRun('r', [job('j', 'r', 'queued')]);
      for (let i = 0; i < 5; i++)
        await store.appendEvent(
          'r',
          { kind: 'log', jobId: 'j', jobName: 'j', attempt: 1, step: 0, data: { text: 'x'.repeat(100) } },
          1,
        );
      expect(await store.listEvents('r', 0, 1000, 250)).toHaveLength(2);
      expect(await store.listEvents('r', 0, 1000, 1)).toHaveLength(1);
      expect(await store.listEvents('r', 0, 3)).toHaveLength(3);
    });

    it('uses a one-use token once and remembers assertion ids until they expire', async () => {
      await store.insertToken(
        {
          id: 't',
          kind: 'jit',
          hash: 'h',
          name: 't',
          scopes: [],
          pool: 'default',
          agentName: 'a',
          agentId: null,
          jobId: null,
          epoch: null,
          expiresAt: 10,
        },
        0,
      );
      expect(await store.consumeToken('t', 1)).toBe(true);
      expect(await store.consumeToken('t', 2)).toBe(false);
      expect(await store.recordAssertion('jti', 100, 1)).toBe(true);
      expect(await store.recordAssertion('jti', 100, 2)).toBe(false);
    });

    it('keeps an agent running a job from being deleted', async () => {
      await store.registerAgent({ id: 'a', pool: 'default', name: 'a', publicKey: 'k', replace: false }, 0);
      await newRun('r', [job('j', 'r', 'queued')]);
      await store.claimJob('j', { id: 'a', name: 'a' }, 100, 1);
      expect(await store.deleteAgent('a', 2)).toBe(false);
      await store.transitionJob('j', ['running'], { status: 'completed', result: 'succeeded' });
      expect(await store.deleteAgent('a', 3)).toBe(true);
    });
    it('counts the jobs still to finish by state, without reading them', async () => {
      await newRun('r', [job('p', 'r', 'pending'), job('q', 'r', 'queued'), job('s', 'r', 'queued')]);
      await store.claimJob('s', { id: 'a', name: 'a' }, 100, 1);
      expect(await store.countJobsByStatus()).toEqual({ pending: 1, queued: 1, running: 1, completed: 0 });
    });

    it('counts queued jobs by pool and demand set, leaving out those flagged for cancel', async () => {
      const java = [{ name: 'java', op: 'exists' as const }];
      const demanding = (id: string, idx: number, pool = 'default'): JobRow => ({
        ...job(id, 'r', 'queued'),
        idx,
        pool,
        plan: { ...plan, pool: { name: pool, demands: java } },
      });
      await newRun('r', [
        job('a', 'r', 'queued'),
        { ...job('b', 'r', 'queued'), idx: 1 },
        demanding('c', 2),
        demanding('d', 3, 'gpu'),
        demanding('e', 4, 'gpu'),
        { ...job('p', 'r', 'pending'), idx: 5 },
        { ...job('x', 'r', 'queued'), idx: 6 },
      ]);
      await store.requestJobCancel('x');
      const counts = await store.countQueuedByDemands();
      const sorted = counts.sort((l, r) => `${l.pool}${l.n}`.localeCompare(`${r.pool}${r.n}`));
      expect(sorted).toEqual([
        { pool: 'default', demands: java, n: 1 },
        { pool: 'default', demands: [], n: 2 },
        { pool: 'gpu', demands: java, n: 2 },
      ]);
    });

    it('names the job an agent runs, and none once it finished or for another agent', async () => {
      await newRun('r', [job('j', 'r', 'queued'), job('k', 'r', 'queued')]);
      expect(await store.listRunningJobIds('a')).toEqual([]);
      await store.claimJob('j', { id: 'a', name: 'a' }, 100, 1);
      await store.claimJob('k', { id: 'b', name: 'b' }, 100, 1);
      expect(await store.listRunningJobIds('a')).toEqual(['j']);
      await store.transitionJob('j', ['running'], { status: 'completed', result: 'succeeded' });
      expect(await store.listRunningJobIds('a')).toEqual([]);
      expect(await store.listRunningJobIds('b')).toEqual(['k']);
    });

    describe('repositories', () => {
      const repo = (name: string): RepositoryRow => ({
        name,
        url: `file:///srv/${name}.git`,
        pipelineFile: 'azure-pipelines.yml',
        defaultBranch: 'main',
        pollSeconds: 30,
        credential: null,
        webhookSecret: 'sealed',
        statusApi: null,
        secrets: null,
        createdAt: 5,
      });

      it('adds a repository once, lists and removes it with what was kept for it; its runs stay', async () => {
        expect(await store.insertRepository(repo('app'))).toBe(true);
        expect(await store.insertRepository(repo('app'))).toBe(false);
        expect(await store.getRepository('app')).toEqual(repo('app'));
        await store.moveRepositoryRef('app', 'refs/heads/main', null, 'c1');
        await newRun('r-app', []);
        await store.insertRepositoryRun({
          runId: 'r-app',
          repo: 'app',
          kind: 'ci',
          ref: 'refs/heads/main',
          commit: 'c1',
          prNumber: null,
          reported: 'none',
        });
        expect(await store.deleteRepository('app')).toBe(true);
        expect(await store.listRepositories()).toEqual([]);
        expect(await store.listRepositoryRefs('app')).toEqual([]);
        expect(await store.getRun('r-app')).toBeDefined();
      });

      it('moves a ref by compare-and-set: one of two movers of the same push wins', async () => {
        await store.insertRepository(repo('app'));
        expect(await store.moveRepositoryRef('app', 'refs/heads/main', null, 'c1')).toBe(true);
        expect(await store.moveRepositoryRef('app', 'refs/heads/main', null, 'c1')).toBe(false);
        expect(await store.moveRepositoryRef('app', 'refs/heads/main', 'c1', 'c2')).toBe(true);
        expect(await store.moveRepositoryRef('app', 'refs/heads/main', 'c1', 'c2')).toBe(false);
        expect(await store.setBatchPending('app', 'refs/heads/main', null, 'c3')).toBe(true);
        expect(await store.listBatchPending()).toEqual([
          { repo: 'app', ref: 'refs/heads/main', commit: 'c2', batchPending: 'c3' },
        ]);
        expect(await store.moveRepositoryRef('app', 'refs/heads/main', 'c2', null)).toBe(true);
        expect(await store.listRepositoryRefs('app')).toEqual([]);
      });

      it('queues deliveries once per id, oldest first, until done', async () => {
        await store.insertRepository(repo('app'));
        expect(
          await store.recordDelivery({ repo: 'app', forge: 'github', deliveryId: 'd1', event: { n: 1 } }, 1),
        ).toBe(true);
        expect(
          await store.recordDelivery({ repo: 'app', forge: 'github', deliveryId: 'd1', event: { n: 1 } }, 2),
        ).toBe(false);
        await store.recordDelivery({ repo: 'app', forge: 'gitea', deliveryId: 'd1', event: { n: 2 } }, 3);
        expect(await store.countPendingDeliveries('app')).toBe(2);
        const pending = await store.listPendingDeliveries('app', 10);
        expect(pending.map((d) => d.event)).toEqual([{ n: 1 }, { n: 2 }]);
        expect(await store.listReposWithPendingDeliveries()).toEqual(['app']);
        await store.finishDelivery(pending[0]!.seq, 4);
        expect(await store.countPendingDeliveries('app')).toBe(1);
      });

      it('lets one owner at a time claim a delivery queue, until its claim runs out', async () => {
        await store.insertRepository(repo('app'));
        await store.insertRepository(repo('lib'));
        expect(await store.claimDeliveries('app', 'replica-a', 100, 0)).toBe(true);
        expect(await store.claimDeliveries('app', 'replica-b', 200, 50)).toBe(false);
        expect(await store.claimDeliveries('lib', 'replica-b', 200, 50)).toBe(true);
        // Renewed by its owner; taken over only once it ran out.
        expect(await store.claimDeliveries('app', 'replica-a', 300, 60)).toBe(true);
        expect(await store.claimDeliveries('app', 'replica-b', 400, 299)).toBe(false);
        expect(await store.claimDeliveries('app', 'replica-b', 400, 300)).toBe(true);
        expect(await store.claimDeliveries('app', 'replica-a', 500, 301)).toBe(false);
        // Another owner cannot give it up; its owner can, and then anyone may claim.
        await store.releaseDeliveries('app', 'replica-a');
        expect(await store.claimDeliveries('app', 'replica-a', 500, 301)).toBe(false);
        await store.releaseDeliveries('app', 'replica-b');
        expect(await store.claimDeliveries('app', 'replica-a', 500, 301)).toBe(true);
        // Claims go with their repository.
        expect(await store.deleteRepository('lib')).toBe(true);
        await store.insertRepository(repo('lib'));
        expect(await store.claimDeliveries('lib', 'replica-a', 500, 301)).toBe(true);
      });

      it('claims a delivery queue for exactly one of many owners racing for it', async () => {
        await store.insertRepository(repo('app'));
        const wins = await Promise.all(
          Array.from({ length: 8 }, (_, i) => store.claimDeliveries('app', `replica-${i}`, 1_000, 0)),
        );
        expect(wins.filter(Boolean)).toHaveLength(1);
      });

      it('keeps errors newest first, and reports run states by compare-and-set', async () => {
        await store.insertRepository(repo('app'));
        await store.recordRepositoryError(
          { repo: 'app', ref: 'refs/heads/main', commit: 'c1', message: 'one' },
          1,
        );
        await store.recordRepositoryError({ repo: 'app', ref: null, commit: null, message: 'two' }, 2);
        expect((await store.listRepositoryErrors('app', 10)).map((e) => e.message)).toEqual(['two', 'one']);
        await newRun('r1', [job('j1', 'r1', 'queued')]);
        await store.insertRepositoryRun({
          runId: 'r1',
          repo: 'app',
          kind: 'pr',
          ref: 'refs/pull/1/head',
          commit: 'c1',
          prNumber: 1,
          reported: 'none',
        });
        expect(await store.listRepositoryRuns({ repo: 'app', prNumber: 1, active: true })).toMatchObject([
          { runId: 'r1', status: 'queued', number: 1 },
        ]);
        expect((await store.listRepositoryRunsToReport(10)).map((r) => r.runId)).toEqual(['r1']);
        expect(await store.markRunReported('r1', 'none', 'pending')).toBe(true);
        expect(await store.markRunReported('r1', 'none', 'pending')).toBe(false);
        expect(await store.listRepositoryRunsToReport(10)).toEqual([]);
        await store.transitionRun('r1', ['queued'], { status: 'completed', result: 'failed' });
        expect(await store.listRepositoryRunsToReport(10)).toMatchObject([{ runId: 'r1', result: 'failed' }]);
      });

      it('moves a schedule’s last slot by compare-and-set, so it fires once', async () => {
        await store.insertRepository(repo('app'));
        const to = { slot: 100, commit: null };
        expect(await store.moveScheduleFire('app', 'nightly', 'refs/heads/main', null, to)).toBe(true);
        expect(await store.moveScheduleFire('app', 'nightly', 'refs/heads/main', null, to)).toBe(false);
        expect(
          await store.moveScheduleFire('app', 'nightly', 'refs/heads/main', 100, { slot: 200, commit: 'c' }),
        ).toBe(true);
        expect(
          await store.moveScheduleFire('app', 'nightly', 'refs/heads/main', 100, { slot: 200, commit: 'c' }),
        ).toBe(false);
        expect(await store.getScheduleFire('app', 'nightly', 'refs/heads/main')).toEqual({
          lastSlot: 200,
          lastCommit: 'c',
        });
      });
    });

    describe('every other method', () => {
      const token = (id: string, extra: Partial<NewToken> = {}): NewToken => ({
        id,
        kind: 'pat',
        hash: `hash-${id}`,
        name: id,
        scopes: ['agent:register'],
        pool: null,
        agentName: null,
        agentId: null,
        jobId: null,
        epoch: null,
        expiresAt: null,
        ...extra,
      });

      it('finds tokens by hash and revokes them by id, agent or job, once', async () => {
        await store.insertToken(token('t1', { expiresAt: 50 }), 5);
        await store.insertToken(token('t2', { kind: 'agt', agentId: 'ag' }), 5);
        await store.insertToken(token('t3', { kind: 'job', jobId: 'jb', epoch: 2 }), 5);
        await store.insertToken(token('t4', { kind: 'agt', agentId: 'ag' }), 5);
        expect(await store.findToken('hash-t1')).toEqual({
          id: 't1',
          kind: 'pat',
          name: 't1',
          scopes: ['agent:register'],
          pool: null,
          agentName: null,
          agentId: null,
          jobId: null,
          epoch: null,
          createdAt: 5,
          expiresAt: 50,
          usedAt: null,
          revokedAt: null,
        });
        expect(await store.findToken('nope')).toBeUndefined();
        expect(await store.revokeTokens({ agentId: 'ag' }, 7)).toBe(2);
        expect(await store.revokeTokens({ agentId: 'ag' }, 8)).toBe(0);
        expect(await store.revokeTokens({ jobId: 'jb' }, 9)).toBe(1);
        expect(await store.revokeTokens({ id: 't1' }, 10)).toBe(1);
        expect((await store.findToken('hash-t2'))?.revokedAt).toBe(7);
        expect(await store.findToken('hash-t3')).toMatchObject({ revokedAt: 9, epoch: 2, jobId: 'jb' });
        await expect(store.revokeTokens({}, 11)).rejects.toThrow();
      });

      it('forgets an assertion id once it expired, so only live ones count as replays', async () => {
        expect(await store.recordAssertion('a', 10, 1)).toBe(true);
        expect(await store.recordAssertion('a', 10, 5)).toBe(false);
        expect(await store.recordAssertion('a', 30, 11)).toBe(true);
      });

      it('creates a pool once, keeps an existing one as it is, and lists pools by name', async () => {
        await expect(store.createPool('default', { allowDockerSocket: true }, 1)).rejects.toThrow(
          ConflictError,
        );
        expect(
          (await store.ensurePool('default', { allowDockerSocket: true }, 1)).settings.allowDockerSocket,
        ).toBe(false);
        await store.createPool('b-pool', { allowDockerSocket: true }, 2);
        await store.ensurePool('a-pool', { allowDockerSocket: false }, 3);
        expect((await store.listPools()).map((p) => p.name)).toEqual(['a-pool', 'b-pool', 'default']);
        expect(await store.getPool('b-pool')).toEqual({
          name: 'b-pool',
          settings: { allowDockerSocket: true },
          createdAt: 2,
        });
        expect(await store.getPool('nope')).toBeUndefined();
      });

      it('registers an agent once per name and pool; replace takes the name over and revokes the old tokens', async () => {
        const reg = (id: string, name: string, replace = false, pool = 'default') =>
          store.registerAgent({ id, pool, name, publicKey: `key-${id}`, replace, singleJob: id === 'b1' }, 2);
        await expect(reg('x', 'x', false, 'nope')).rejects.toThrow(NotFoundError);
        const a = await reg('a1', 'build');
        expect(a).toMatchObject({
          id: 'a1',
          pool: 'default',
          name: 'build',
          publicKey: 'key-a1',
          capabilities: {},
          version: null,
          sessionId: null,
          boundJobId: null,
          draining: false,
          singleJob: false,
          claims: 0,
          lastSeenAt: null,
          createdAt: 2,
        });
        await store.insertToken(token('at', { kind: 'agt', agentId: 'a1' }), 2);
        await expect(reg('a2', 'build')).rejects.toThrow(ConflictError);
        const b = await reg('b1', 'build', true);
        expect(b).toMatchObject({ id: 'b1', singleJob: true });
        expect(await store.getAgent('a1')).toBeUndefined();
        expect((await store.findToken('hash-at'))?.revokedAt).toBe(2);
        expect((await store.findAgent('default', 'build'))?.id).toBe('b1');
        expect(await store.findAgent('default', 'nope')).toBeUndefined();
        await store.createPool('other', { allowDockerSocket: false }, 1);
        await reg('c1', 'build', false, 'other');
        await reg('d1', 'alpha');
        expect((await store.listAgents('default')).map((x) => x.id)).toEqual(['d1', 'b1']);
        expect((await store.listAgents()).map((x) => x.id)).toEqual(['d1', 'b1', 'c1']);
      });

      it("keeps an agent's session, last sight, draining flag and claim count", async () => {
        await store.registerAgent({ id: 'a', pool: 'default', name: 'a', publicKey: 'k', replace: false }, 1);
        await store.openSession(
          'a',
          { sessionId: 's1', capabilities: { node: '20' }, version: '1.2.3', boundJobId: 'jb' },
          5,
        );
        expect(await store.getAgent('a')).toMatchObject({
          sessionId: 's1',
          capabilities: { node: '20' },
          version: '1.2.3',
          boundJobId: 'jb',
          lastSeenAt: 5,
        });
        await store.touchAgent('a', 9);
        await store.setAgentDraining('a', true);
        expect(await store.getAgent('a')).toMatchObject({ lastSeenAt: 9, draining: true });
        await store.setAgentDraining('a', false);
        await newRun('r', [job('j', 'r', 'queued')]);
        await store.claimJob('j', { id: 'a', name: 'a' }, 100, 10);
        expect(await store.getAgent('a')).toMatchObject({ draining: false, claims: 1 });
        expect(await store.deleteAgent('nope', 1)).toBe(true);
      });

      it('lists fleets of a pool seen since a time', async () => {
        await store.createPool('gpu', { allowDockerSocket: false }, 0);
        await store.upsertFleet({ pool: 'default', id: 'old', capabilities: {}, lastSeenAt: 5 });
        await store.upsertFleet({
          pool: 'default',
          id: 'new',
          capabilities: { docker: '1' },
          lastSeenAt: 20,
        });
        await store.upsertFleet({ pool: 'gpu', id: 'g', capabilities: {}, lastSeenAt: 20 });
        expect(await store.listFleets('default', 10)).toEqual([
          { pool: 'default', id: 'new', capabilities: { docker: '1' }, lastSeenAt: 20, status: null },
        ]);
        expect((await store.listFleets('default', 0)).map((f) => f.id).sort()).toEqual(['new', 'old']);
      });

      it('keeps workspaces once by id', async () => {
        await store.insertWorkspace('w', 10, 1);
        await store.insertWorkspace('w', 99, 2);
        expect(await store.getWorkspace('w')).toEqual({ id: 'w', size: 10 });
        expect(await store.getWorkspace('nope')).toBeUndefined();
      });

      it('finds a run by number, patches it, and renders build numbers by revision per key', async () => {
        // The scheduler joins a key's parts with NUL.
        const build = (key: string) => ({
          revisionKey: `p.yml\u0000${key}`,
          render: (rev: number) => `${key}.${rev}`,
        });
        const run = (id: string) => ({
          id,
          pipelineFile: 'p.yml',
          plan: pipeline,
          variables: { A: '1' },
          secrets: 'sealed',
          workspaceId: 'w',
          status: 'queued' as const,
          result: null,
          cancelRequested: false,
          buildNumber: null,
          tags: [],
          source: {},
          reason: 'Manual' as const,
          untrusted: false,
          createdAt: 1,
          startedAt: null,
          finishedAt: null,
        });
        expect((await store.createRun(run('a'), [], build('day'))).buildNumber).toBe('day.1');
        expect((await store.createRun(run('b'), [], build('night'))).buildNumber).toBe('night.1');
        expect((await store.createRun(run('c'), [], build('day'))).buildNumber).toBe('day.2');
        expect(await store.getRunByNumber(3)).toMatchObject({
          id: 'c',
          buildNumber: 'day.2',
          variables: { A: '1' },
          secrets: 'sealed',
          workspaceId: 'w',
          plan: pipeline,
        });
        expect(await store.getRunByNumber(99)).toBeUndefined();
        expect(await store.getRun('nope')).toBeUndefined();
        await store.updateRun('a', { tags: ['x', 'y'], buildNumber: 'custom', cancelRequested: true });
        await store.updateRun('a', {});
        expect(await store.getRun('a')).toMatchObject({
          tags: ['x', 'y'],
          buildNumber: 'custom',
          cancelRequested: true,
        });
      });

      it('counts and lists jobs by status, oldest queued first, by pool and up to a limit', async () => {
        await store.createPool('gpu', { allowDockerSocket: false }, 0);
        await newRun('r', [
          job('p', 'r', 'pending'),
          { ...job('q2', 'r', 'pending'), idx: 1 },
          { ...job('q1', 'r', 'pending'), idx: 2 },
          { ...job('g', 'r', 'pending'), idx: 3, pool: 'gpu' },
        ]);
        await store.transitionJob('q2', ['pending'], { status: 'queued', queuedAt: 20 });
        await store.transitionJob('q1', ['pending'], { status: 'queued', queuedAt: 10 });
        await store.transitionJob('g', ['pending'], { status: 'queued', queuedAt: 5 });
        expect(await store.countRunJobs('r')).toEqual({ pending: 1, queued: 3, running: 0, completed: 0 });
        expect(await store.countRunJobs('nope')).toEqual({ pending: 0, queued: 0, running: 0, completed: 0 });
        const ids = async (pool?: string, limit?: number) =>
          (await store.listJobsByStatus('queued', pool, limit)).map((j) => j.id);
        expect(await ids()).toEqual(['g', 'q1', 'q2']);
        expect(await ids('default')).toEqual(['q1', 'q2']);
        expect(await ids(undefined, 2)).toEqual(['g', 'q1']);
        expect(await ids('default', 1)).toEqual(['q1']);
        expect(await store.listQueueHead('default', 5)).toEqual([
          { id: 'q1', runId: 'r', name: 'q1', pool: 'default', plan, cancelRequested: false },
          { id: 'q2', runId: 'r', name: 'q2', pool: 'default', plan, cancelRequested: false },
        ]);
        expect((await store.listQueueHead('default', 1)).map((j) => j.id)).toEqual(['q1']);
        expect(await store.listQueueHead('nope', 5)).toEqual([]);
        expect((await store.getJob('q1'))?.plan).toEqual(plan);
        expect(await store.getJob('nope')).toBeUndefined();
      });

      it('flags a job for cancel until it finished; a flagged job is claimed by nobody', async () => {
        await newRun('r', [job('j', 'r', 'queued'), { ...job('done', 'r', 'completed'), idx: 1 }]);
        expect(await store.requestJobCancel('j')).toBe(true);
        expect(await store.requestJobCancel('done')).toBe(false);
        expect((await store.getJob('j'))?.cancelRequested).toBe(true);
        expect(await store.claimJob('j', { id: 'a', name: 'a' }, 100, 1)).toEqual({
          ok: false,
          reason: 'not-queued',
        });
        expect(await store.claimJob('nope', { id: 'a', name: 'a' }, 100, 1)).toEqual({
          ok: false,
          reason: 'not-found',
        });
      });

      it('answers a claim with the running job, and keeps, finds and extends leases', async () => {
        await newRun('r', [job('j', 'r', 'queued'), { ...job('k', 'r', 'queued'), idx: 1 }]);
        const claim = await store.claimJob('j', { id: 'a', name: 'agent-a' }, 100, 7);
        expect(claim).toMatchObject({
          ok: true,
          job: {
            id: 'j',
            status: 'running',
            attempt: 1,
            agentId: 'a',
            agentName: 'agent-a',
            leaseExpiresAt: 100,
            startedAt: 7,
          },
        });
        await store.claimJob('k', { id: 'b', name: 'b' }, 300, 7);
        // A late heartbeat never shortens a lease.
        expect(await store.renewLease('j', 1, 50)).toBe(true);
        expect((await store.getJob('j'))?.leaseExpiresAt).toBe(100);
        expect((await store.listExpiredLeases(150)).map((x) => x.id)).toEqual(['j']);
        expect(await store.listExpiredLeases(99)).toEqual([]);
        expect(await store.extendAllLeases(200)).toBe(1);
        expect((await store.getJob('j'))?.leaseExpiresAt).toBe(200);
        expect((await store.getJob('k'))?.leaseExpiresAt).toBe(300);
        await store.transitionJob('j', ['running'], {
          status: 'completed',
          result: 'succeeded',
          outputs: { 's.v': '1' },
        });
        expect(await store.renewLease('j', 1, 500)).toBe(false);
        expect((await store.getJob('j'))?.outputs).toEqual({ 's.v': '1' });
      });

      it('keeps steps per attempt, their first start time kept through updates', async () => {
        await newRun('r', [job('j', 'r', 'queued')]);
        const step = {
          jobId: 'j',
          attempt: 1,
          idx: 0,
          name: 's',
          state: 'running' as const,
          result: null,
          reason: null,
          startedAt: 5,
          finishedAt: null,
        };
        await store.upsertStep(step);
        await store.upsertStep({
          ...step,
          state: 'completed',
          result: 'failed',
          reason: 'exit 1',
          startedAt: 9,
          finishedAt: 12,
        });
        await store.upsertStep({ ...step, attempt: 2, name: 'again' });
        expect(await store.listSteps('j', 1)).toEqual([
          { ...step, state: 'completed', result: 'failed', reason: 'exit 1', startedAt: 5, finishedAt: 12 },
        ]);
        expect((await store.listSteps('j', 2)).map((s) => s.name)).toEqual(['again']);
        expect(await store.listSteps('j', 3)).toEqual([]);
      });

      it('numbers events per run and lists them after a number', async () => {
        await newRun('a', []);
        await newRun('b', []);
        const ev = (text: string) => ({
          kind: 'log' as const,
          jobId: 'j',
          jobName: 'j',
          attempt: 1,
          step: 0,
          data: { text },
        });
        expect(await store.appendEvent('a', ev('a1'), 3)).toBe(1);
        expect(await store.appendEvent('b', ev('b1'), 3)).toBe(1);
        expect(await store.appendEvent('a', ev('a2'), 4)).toBe(2);
        expect(await store.listEvents('a', 1, 10)).toEqual([
          {
            runId: 'a',
            seq: 2,
            at: 4,
            kind: 'log',
            jobId: 'j',
            jobName: 'j',
            attempt: 1,
            step: 0,
            data: { text: 'a2' },
          },
        ]);
        expect(await store.listEvents('a', 2, 10)).toEqual([]);
      });

      it('keeps a log with NUL bytes and broken UTF-8 as the text the agent sent decodes to', async () => {
        await newRun('r', [job('j', 'r', 'queued')]);
        await store.claimJob('j', { id: 'a', name: 'a' }, 100, 1);
        const bytes = Buffer.from([0x61, 0x00, 0x62, 0xff, 0xfe, 0x0a]);
        expect(await store.appendLog({ id: 'j', runId: 'r', name: 'j' }, 1, 0, 0, bytes, 1)).toMatchObject({
          ok: true,
          length: 6,
        });
        expect((await store.readLogPage('j', 1, undefined, 0, 1024))?.text).toBe(bytes.toString('utf8'));
      });

      it('lists repositories by name and filters their runs by ref, kind and state', async () => {
        const repo = (name: string): RepositoryRow => ({
          name,
          url: `file:///srv/${name}.git`,
          pipelineFile: 'azure-pipelines.yml',
          defaultBranch: 'main',
          pollSeconds: null,
          credential: 'sealed-cred',
          webhookSecret: 'sealed',
          statusApi: 'sealed-api',
          secrets: 'sealed-secrets',
          createdAt: 5,
        });
        await store.insertRepository(repo('zeta'));
        await store.insertRepository(repo('alpha'));
        expect(await store.listRepositories()).toEqual([repo('alpha'), repo('zeta')]);
        expect(await store.getRepository('nope')).toBeUndefined();
        expect(await store.deleteRepository('nope')).toBe(false);
        await newRun('r1', []);
        await newRun('r2', []);
        await newRun('r3', []);
        const link = (runId: string, kind: 'ci' | 'pr', ref: string) =>
          store.insertRepositoryRun({
            runId,
            repo: 'alpha',
            kind,
            ref,
            commit: 'c',
            prNumber: kind === 'pr' ? 7 : null,
            reported: 'off',
          });
        await link('r1', 'ci', 'refs/heads/main');
        await link('r2', 'ci', 'refs/heads/dev');
        await link('r3', 'pr', 'refs/pull/7/head');
        await store.transitionRun('r1', ['queued'], { status: 'completed', result: 'succeeded' });
        const ids = async (f: Omit<Parameters<Store['listRepositoryRuns']>[0], 'repo'>) =>
          (await store.listRepositoryRuns({ repo: 'alpha', ...f })).map((r) => r.runId);
        expect(await ids({})).toEqual(['r3', 'r2', 'r1']);
        expect(await ids({ ref: 'refs/heads/main' })).toEqual(['r1']);
        expect(await ids({ kind: 'ci', active: true })).toEqual(['r2']);
        expect(await ids({ active: false })).toEqual(['r1']);
        expect(await store.listRepositoryRunsToReport(10)).toEqual([]);
        expect(await store.getScheduleFire('alpha', 'nightly', 'refs/heads/main')).toBeUndefined();
        expect(await store.moveRepositoryRef('alpha', 'refs/heads/x', null, null)).toBe(false);
      });

      it('pages pending deliveries and errors, and finishes a delivery once', async () => {
        await store.insertRepository({
          name: 'app',
          url: 'file:///srv/app.git',
          pipelineFile: 'p.yml',
          defaultBranch: 'main',
          pollSeconds: 30,
          credential: null,
          webhookSecret: 's',
          statusApi: null,
          secrets: null,
          createdAt: 1,
        });
        for (let i = 0; i < 3; i++) {
          await store.recordDelivery(
            { repo: 'app', forge: 'github', deliveryId: `d${i}`, event: { i } },
            10 + i,
          );
          await store.recordRepositoryError({ repo: 'app', ref: null, commit: null, message: `e${i}` }, i);
        }
        const first = await store.listPendingDeliveries('app', 2);
        expect(first).toMatchObject([
          { repo: 'app', forge: 'github', deliveryId: 'd0', event: { i: 0 }, receivedAt: 10 },
          { deliveryId: 'd1' },
        ]);
        await store.finishDelivery(first[0]!.seq, 20);
        await store.finishDelivery(first[0]!.seq, 21);
        expect((await store.listPendingDeliveries('app', 10)).map((d) => d.deliveryId)).toEqual(['d1', 'd2']);
        expect(await store.listRepositoryErrors('app', 2)).toMatchObject([
          { repo: 'app', ref: null, commit: null, message: 'e2', at: 2 },
          { message: 'e1' },
        ]);
        for (const d of await store.listPendingDeliveries('app', 10)) await store.finishDelivery(d.seq, 30);
        expect(await store.listReposWithPendingDeliveries()).toEqual([]);
      });
    });

    it('lists runs newest first, below a number, by status or result, and by text in their origin', async () => {
      await newRun('r1', [], { source: { branch: 'refs/heads/main', repository: 'Shop' } });
      await newRun('r2', [], { pipelineFile: 'ci/build.yml', source: { branch: 'refs/heads/feat/50%_off' } });
      await newRun('r3', [], { buildNumber: '20260101.7' });
      await store.transitionRun('r1', ['queued'], { status: 'completed', result: 'failed', finishedAt: 5 });
      await store.transitionRun('r2', ['queued'], { status: 'running', startedAt: 3 });
      const numbers = async (limit: number, filter?: Parameters<Store['listRuns']>[1]) =>
        (await store.listRuns(limit, filter)).map((r) => r.number);
      expect(await numbers(10)).toEqual([3, 2, 1]);
      expect(await numbers(2)).toEqual([3, 2]);
      expect(await numbers(10, { before: 3 })).toEqual([2, 1]);
      expect(await numbers(10, { status: 'running' })).toEqual([2]);
      expect(await numbers(10, { status: 'failed' })).toEqual([1]);
      expect(await numbers(10, { status: 'succeeded' })).toEqual([]);
      expect(await numbers(10, { q: 'shop' })).toEqual([1]);
      expect(await numbers(10, { q: 'BUILD.yml' })).toEqual([2]);
      expect(await numbers(10, { q: '50%_' })).toEqual([2]);
      expect(await numbers(10, { q: '5_%' })).toEqual([]);
      expect(await numbers(10, { q: '20260101' })).toEqual([3]);
      expect(await numbers(10, { q: 'refs/heads', before: 2 })).toEqual([1]);
    });

    it('remembers the run a re-run repeats', async () => {
      await newRun('r1', []);
      await newRun('r2', [], { rerunOf: { id: 'r1', number: 1, failedOnly: true } });
      expect((await store.getRun('r1'))!.rerunOf).toBeNull();
      expect((await store.getRun('r2'))!.rerunOf).toEqual({ id: 'r1', number: 1, failedOnly: true });
    });

    it('finds jobs that failed without starting, newest first, by pool and since a time', async () => {
      await store.createPool('gpu', { allowDockerSocket: false }, 0);
      await newRun('r', [
        job('never', 'r', 'queued'),
        { ...job('ran', 'r', 'queued'), idx: 1 },
        { ...job('gpu', 'r', 'pending'), idx: 2, pool: 'gpu' },
        { ...job('old', 'r', 'pending'), idx: 3 },
        { ...job('ok', 'r', 'pending'), idx: 4 },
      ]);
      await store.transitionJob('old', ['pending'], { status: 'completed', result: 'failed', finishedAt: 5 });
      await store.transitionJob('never', ['queued'], {
        status: 'completed',
        result: 'failed',
        finishedAt: 20,
      });
      await store.claimJob('ran', { id: 'a', name: 'a' }, 100, 10);
      await store.transitionJob('ran', ['running'], {
        status: 'completed',
        result: 'failed',
        finishedAt: 30,
      });
      await store.transitionJob('gpu', ['pending'], {
        status: 'completed',
        result: 'failed',
        finishedAt: 40,
      });
      await store.transitionJob('ok', ['pending'], {
        status: 'completed',
        result: 'skipped',
        finishedAt: 50,
      });
      const ids = async (since: number, limit: number, pool?: string) =>
        (await store.listFailedUnstartedJobs(since, limit, pool)).map((j) => j.id);
      expect(await ids(10, 10)).toEqual(['gpu', 'never']);
      expect(await ids(0, 10)).toEqual(['gpu', 'never', 'old']);
      expect(await ids(0, 1)).toEqual(['gpu']);
      expect(await ids(0, 10, 'default')).toEqual(['never', 'old']);
    });

    it('keeps what a fleet last reported of its containers', async () => {
      const status = {
        containers: 2,
        starting: 0,
        idle: 1,
        busy: 1,
        minIdle: 1,
        max: 4,
        image: 'slipway/base:latest',
        totals: { started: 3, exited: 1, scaledDown: 0, startFailed: 0 },
        events: [{ at: new Date(5).toISOString(), kind: 'started' as const, agent: 'default-1' }],
      };
      await store.upsertFleet({ pool: 'default', id: 'f', capabilities: {}, lastSeenAt: 5, status });
      expect((await store.listFleets('default', 0))[0]!.status).toEqual(status);
      await store.upsertFleet({ pool: 'default', id: 'f', capabilities: {}, lastSeenAt: 6 });
      expect((await store.listFleets('default', 0))[0]!.status).toBeNull();
    });

    it('keeps cache entries unique by scope and key, finds them by key and prefix, least recently used first', async () => {
      const entry = (id: string, scope: string, key: string, at: number) => ({
        id,
        scope,
        key,
        size: 10,
        sha256: id.padEnd(64, '0'),
        createdAt: at,
        lastUsedAt: at,
      });
      expect(await store.insertCacheEntry(entry('c1', 'branch:main', 'npm|a%_', 1))).toBe(true);
      expect(await store.insertCacheEntry(entry('c2', 'branch:main', 'npm|b', 2))).toBe(true);
      expect(await store.insertCacheEntry(entry('c3', 'branch:dev', 'npm|a%_', 3))).toBe(true);
      expect(await store.insertCacheEntry(entry('c4', 'branch:main', 'npm|a%_', 4))).toBe(false);
      expect((await store.findCacheEntry('branch:main', 'npm|a%_'))?.id).toBe('c1');
      expect(await store.findCacheEntry('branch:main', 'npm|a')).toBeUndefined();
      expect((await store.findCacheEntryByPrefix('branch:main', 'npm|'))?.id).toBe('c2');
      // The prefix is literal: `%` and `_` are no wildcards.
      expect((await store.findCacheEntryByPrefix('branch:main', 'npm|a%'))?.id).toBe('c1');
      expect(await store.findCacheEntryByPrefix('branch:main', 'npm|_')).toBeUndefined();
      await store.touchCacheEntry('c1', 10);
      await store.touchCacheEntry('c1', 5);
      expect((await store.listCacheEntries()).map((e) => e.id)).toEqual(['c2', 'c3', 'c1']);
      expect((await store.getCacheEntry('c1'))?.lastUsedAt).toBe(10);
      expect(await store.cacheUsage()).toEqual({ entries: 3, bytes: 30 });
      expect(await store.countCacheEntriesWithSha('c1'.padEnd(64, '0'))).toBe(1);
      expect(await store.deleteCacheEntry('c1')).toBe(true);
      expect(await store.deleteCacheEntry('c1')).toBe(false);
      expect(await store.cacheUsage()).toEqual({ entries: 2, bytes: 20 });
    });
  });
}
