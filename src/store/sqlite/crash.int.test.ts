import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect, it } from 'vitest';
import { ROOT } from '../../test-support/harness.js';
import { seededRandom } from '../../test-support/seeded-random.js';

/**
 * A writer that creates runs with jobs and appends logs as fast as it can, until killed, printing
 * each run it was answered for. Several writes in flight at once share one group commit.
 */
const WRITER = `
import { SqliteStore } from ${JSON.stringify(join(ROOT, 'dist', 'store', 'sqlite', 'sqlite-store.js'))};
const store = new SqliteStore(process.argv[1]);
await store.ensurePool('default', { allowDockerSocket: false }, 0);
const job = (id, runId) => ({ id, runId, idx: 0, name: id, displayName: id, plan: {}, pool: 'default', dependsOn: [],
  status: 'queued', result: null, reason: null, attempt: 0, agentId: null, agentName: null, leaseExpiresAt: null,
  cancelRequested: false, queuedAt: 1, startedAt: null, finishedAt: null });
const worker = async (w) => {
  for (let i = 0; ; i++) {
    const runId = 'r' + process.pid + '-' + w + '-' + i;
    await store.createRun({ id: runId, pipelineFile: 'p', plan: {}, variables: {}, secrets: null, workspaceId: null,
      status: 'queued', result: null, cancelRequested: false, tags: [], source: {}, reason: 'Manual', untrusted: false, createdAt: 1, startedAt: null, finishedAt: null },
      [job(runId + '-a', runId), { ...job(runId + '-b', runId), idx: 1 }]);
    await store.claimJob(runId + '-a', { id: 'x', name: 'x' }, 1e13, 1);
    let offset = 0;
    for (let k = 0; k < 5; k++) {
      const data = Buffer.from('line ' + k + '\\n');
      await store.appendLog({ id: runId + '-a', runId, name: 'a' }, 1, 0, offset, data, 1);
      offset += data.length;
    }
    // Answered: the run's creation, its claim and its log came back. Pipes are written
    // synchronously here, so every id the test reads was answered before the kill.
    process.stdout.write('answered ' + runId + '\\n');
  }
};
for (let w = 0; w < 4; w++) worker(w);
`;

it('survives kill -9 of a writer at any point: no corruption, no answered write lost, no run without its jobs, no log out of step with its length', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'slipway-crash-')), 'db.sqlite');
  const random = seededRandom(42);
  for (let round = 0; round < 6; round++) {
    const child = spawn(process.execPath, ['--input-type=module', '-e', WRITER, file], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    await new Promise((r) => setTimeout(r, 20 + random() * 300));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
    const answered = [...out.matchAll(/^answered (\S+)$/gm)].map((m) => m[1]);

    const db = new Database(file, { readonly: true });
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    const orphans = db
      .prepare(
        'SELECT COUNT(*) AS n FROM runs r WHERE (SELECT COUNT(*) FROM jobs j WHERE j.run_id = r.id) != 2',
      )
      .get() as { n: number };
    expect(orphans.n).toBe(0);
    const streams = db.prepare('SELECT job_id, attempt, step, length FROM log_streams').all() as {
      job_id: string;
      attempt: number;
      step: number;
      length: number;
    }[];
    for (const s of streams) {
      // A log chunk is kept as its raw bytes (body), with no JSON around it.
      const rows = db
        .prepare("SELECT body FROM run_events WHERE job_id = ? AND attempt = ? AND step = ? AND kind = 'log'")
        .all(s.job_id, s.attempt, s.step) as { body: Buffer }[];
      const bytes = rows.reduce((n, r) => n + r.body.length, 0);
      expect(bytes).toBe(s.length);
    }
    const claimed = db.prepare('SELECT status FROM jobs WHERE id = ?');
    const logged = db.prepare('SELECT length FROM log_streams WHERE job_id = ?');
    for (const runId of answered) {
      expect((claimed.get(`${runId}-a`) as { status: string } | undefined)?.status, runId).toBe('running');
      expect((logged.get(`${runId}-a`) as { length: number } | undefined)?.length, runId).toBe(35);
    }
    expect(answered.length).toBeGreaterThan(0);
    expect((db.prepare('SELECT COUNT(*) AS n FROM runs').get() as { n: number }).n).toBeGreaterThan(round);
    db.close();
  }
});
