import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { JobPlan, PipelinePlan } from '../../pipeline/index.js';
import { StoreUnavailableError, ValidationError } from '../../shared/errors.js';
import { createTestDatabase, type TestDatabase } from '../../test-support/postgres.js';
import type { JobRow, RunRow } from '../types.js';
import { PostgresStore } from './postgres-store.js';

// What only a shared database shows: several stores (as several replicas would hold) on one
// database, racing for the same rows over separate connections.

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
const pipeline: PipelinePlan = { file: 'p.yml', variables: {}, jobs: [plan] };

function run(id: string): Omit<RunRow, 'number'> {
  return {
    id,
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
  };
}

function job(id: string, runId: string): JobRow {
  return {
    id,
    runId,
    idx: 0,
    name: id,
    displayName: id,
    plan,
    pool: 'default',
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
    queuedAt: 1,
    startedAt: null,
    finishedAt: null,
  };
}

describe('PostgreSQL store shared by several stores', () => {
  const databases: TestDatabase[] = [];
  const stores: PostgresStore[] = [];
  const open = async (url: string) => {
    const s = await PostgresStore.open(url);
    stores.push(s);
    return s;
  };
  const database = async () => {
    const db = await createTestDatabase('slipway_pg');
    databases.push(db);
    return db;
  };
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    await Promise.all(databases.map((d) => d.drop()));
  });

  it('migrates once when several stores start together on an empty database', async () => {
    const db = await database();
    const [a, b, c] = await Promise.all([open(db.url), open(db.url), open(db.url)]);
    // Each would have failed (a table or the sequence created twice) had they not taken turns.
    await a!.ensurePool('default', { allowDockerSocket: false }, 0);
    expect((await b!.listPools()).map((p) => p.name)).toEqual(['default']);
    expect((await c!.getPool('default'))?.name).toBe('default');
    const applied = await sqlOn(db.url, 'SELECT version FROM schema_migrations ORDER BY version');
    expect(applied.map((r) => r.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('lets exactly one of two stores claim each queued job, round after round', async () => {
    const db = await database();
    const a = await open(db.url);
    const b = await open(db.url);
    await a.ensurePool('default', { allowDockerSocket: false }, 0);
    const rounds = 40;
    for (let i = 0; i < rounds; i++) await a.createRun(run(`r${i}`), [job(`j${i}`, `r${i}`)]);
    let winsA = 0;
    let winsB = 0;
    for (let i = 0; i < rounds; i++) {
      const claims = await Promise.all([
        a.claimJob(`j${i}`, { id: 'agent-a', name: 'a' }, 100, 1),
        b.claimJob(`j${i}`, { id: 'agent-b', name: 'b' }, 100, 1),
        a.claimJob(`j${i}`, { id: 'agent-c', name: 'c' }, 100, 1),
        b.claimJob(`j${i}`, { id: 'agent-d', name: 'd' }, 100, 1),
      ]);
      const won = claims.filter((c) => c.ok);
      expect(won).toHaveLength(1);
      expect(claims.filter((c) => !c.ok).every((c) => !c.ok && c.reason === 'not-queued')).toBe(true);
      const stored = (await b.getJob(`j${i}`))!;
      expect(stored).toMatchObject({ status: 'running', attempt: 1 });
      if (won[0]!.ok) expect(stored.agentId).toBe(won[0]!.job.agentId);
      if (claims[0]!.ok || claims[2]!.ok) winsA++;
      else winsB++;
    }
    expect(winsA + winsB).toBe(rounds);
  });

  it('numbers runs uniquely when two stores create them at once, and renders build revisions uniquely', async () => {
    const db = await database();
    const a = await open(db.url);
    const b = await open(db.url);
    await a.ensurePool('default', { allowDockerSocket: false }, 0);
    const build = { revisionKey: 'nightly', render: (rev: number) => `nightly.${rev}` };
    const made = await Promise.all(
      Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? a : b).createRun(run(`r${i}`), [], build)),
    );
    const numbers = made.map((r) => r.number);
    expect(new Set(numbers).size).toBe(30);
    expect(new Set(made.map((r) => r.buildNumber)).size).toBe(30);
    // What was answered is what was stored, and each stored number finds its run.
    for (const r of made) expect((await b.getRunByNumber(r.number))?.id).toBe(r.id);
    expect((await a.listRuns(100)).map((r) => r.number)).toEqual([...numbers].sort((x, y) => y - x));
  });

  it('keeps log appends of one job from two stores whole and in order', async () => {
    const db = await database();
    const a = await open(db.url);
    const b = await open(db.url);
    await a.ensurePool('default', { allowDockerSocket: false }, 0);
    await a.createRun(run('r'), [job('j', 'r')]);
    await a.claimJob('j', { id: 'x', name: 'x' }, 100, 1);
    const ref = { id: 'j', runId: 'r', name: 'j' };
    // The same chunks sent through both (an agent retrying via another replica): each kept once.
    let offset = 0;
    for (let i = 0; i < 20; i++) {
      const chunk = Buffer.from(`line ${i}\n`);
      const [x, y] = await Promise.all([
        a.appendLog(ref, 1, 0, offset, chunk, 1),
        b.appendLog(ref, 1, 0, offset, chunk, 1),
      ]);
      expect([x.ok && x.appended, y.ok && y.appended].filter(Boolean)).toHaveLength(1);
      offset += chunk.length;
    }
    const page = await b.readLogPage('j', 1, 0, 0, 1 << 20);
    expect(page?.text).toBe(Array.from({ length: 20 }, (_, i) => `line ${i}\n`).join(''));
    const seqs = (await a.listEvents('r', 0, 100)).map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it('surfaces a statement past statement_timeout_ms as the store being unavailable', async () => {
    const db = await database();
    const store = await open(`${db.url}?statement_timeout_ms=300`);
    await store.ensurePool('default', { allowDockerSocket: false }, 0);
    await store.createRun(run('r'), [job('j', 'r')]);
    // Another session holds the job's row: the claim waits for it, past its budget.
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query("SELECT * FROM jobs WHERE id = 'j' FOR UPDATE");
      const claim = store.claimJob('j', { id: 'a', name: 'a' }, 100, 1);
      await expect(claim).rejects.toThrow(StoreUnavailableError);
      await expect(claim).rejects.toThrow(/statement_timeout/);
      await holder.query('ROLLBACK');
    } finally {
      await holder.end();
    }
    // Nothing was half done, and the pool still serves.
    expect((await store.getJob('j'))?.status).toBe('queued');
    expect((await store.claimJob('j', { id: 'a', name: 'a' }, 100, 1)).ok).toBe(true);
  });

  it('keeps at most pool_max connections however many calls wait, and close() ends them all', async () => {
    const db = await database();
    const store = await PostgresStore.open(`${db.url}?pool_max=2`);
    await store.ensurePool('default', { allowDockerSocket: false }, 0);
    await store.createRun(run('r'), [job('j', 'r')]);
    const name = new URL(db.url).pathname.slice(1);
    const connections = async () =>
      Number(
        (
          await sqlOn(
            db.url,
            `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = '${name}' AND application_name = 'slipway'`,
          )
        )[0]!.n,
      );
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    let claims: Promise<{ ok: boolean }>[] = [];
    try {
      await holder.query('BEGIN');
      await holder.query("SELECT * FROM jobs WHERE id = 'j' FOR UPDATE");
      // Six claims at once: two hold the pool's connections (waiting for the row), four wait for those.
      claims = Array.from({ length: 6 }, (_, i) =>
        store.claimJob('j', { id: `a${i}`, name: `a${i}` }, 100, 1),
      );
      await new Promise((r) => setTimeout(r, 500));
      expect(await connections()).toBe(2);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    expect((await Promise.all(claims)).filter((c) => c.ok)).toHaveLength(1);
    await store.close();
    // A backend leaves pg_stat_activity a moment after its client hung up.
    for (let i = 0; i < 50 && (await connections()) > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await connections()).toBe(0);
    // A second close (a server stopping twice) is harmless.
    await expect(store.close()).resolves.toBeUndefined();
  });

  it('refuses text with a NUL character as invalid input, changing nothing', async () => {
    const db = await database();
    const store = await open(db.url);
    await store.ensurePool('default', { allowDockerSocket: false }, 0);
    const creating = store.createRun(run('r'), [{ ...job('j', 'r'), displayName: 'a\u0000b' }]);
    await expect(creating).rejects.toThrow(ValidationError);
    await expect(creating).rejects.toThrow(/NUL character/);
    expect(await store.getRun('r')).toBeUndefined();
  });

  it('refuses to open a database that does not answer, as unavailable, without echoing the password', async () => {
    const opening = PostgresStore.open('postgres://ci:hunter2@127.0.0.1:1/none?connect_timeout_ms=2000');
    await expect(opening).rejects.toThrow(StoreUnavailableError);
    await opening.catch((e: Error) => expect(e.message).not.toContain('hunter2'));
  });
});

async function sqlOn(url: string, text: string): Promise<Record<string, unknown>[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text)).rows;
  } finally {
    await c.end();
  }
}
