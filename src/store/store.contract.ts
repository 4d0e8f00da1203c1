import { beforeEach, describe, expect, it } from 'vitest';
import type { JobPlan, PipelinePlan } from '../pipeline/index.js';
import type { JobStatus } from '../protocol/index.js';
import { ConflictError } from '../shared/errors.js';
import { JOB_TRANSITIONS, type JobRow, type RunRow, type Store } from './types.js';

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
  });
}
