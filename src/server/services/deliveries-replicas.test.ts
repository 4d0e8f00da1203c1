import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/logger.js';
import { GitRunner } from '../../sources/index.js';
import { type Coordinator, startCoordinator } from '../../test-support/coordinator.js';
import { SecretVault } from '../secret-vault.js';
import { RepositoryService } from './repositories.js';

// Webhook deliveries with two coordinator replicas: two services on one store, each with its
// own mirrors, as two replicas have. A delivery is acted on once, by whichever holds the
// repository's queue, and a replica that died holding it is taken over from.

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Dev',
  GIT_AUTHOR_EMAIL: 'dev@example.test',
  GIT_COMMITTER_NAME: 'Dev',
  GIT_COMMITTER_EMAIL: 'dev@example.test',
  GIT_CONFIG_GLOBAL: '/dev/null',
};
const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' }).trim();

describe('webhook deliveries with two replicas', () => {
  let c: Coordinator;
  let root: string;
  let work: string;
  let replicas: RepositoryService[];
  const push = async (text: string) => {
    await writeFile(join(work, 'README.md'), text);
    git(work, 'add', '-A');
    git(work, 'commit', '--quiet', '-m', text);
    git(work, 'push', '--quiet', 'origin', 'HEAD:refs/heads/main');
    return git(work, 'rev-parse', 'HEAD');
  };
  const deliver = (id: string, before: string, after: string) =>
    c.store.recordDelivery(
      {
        repo: 'app',
        forge: 'github',
        deliveryId: id,
        event: { kind: 'push', ref: 'refs/heads/main', before, after },
      },
      c.clock.now(),
    );
  const ciRuns = async () => (await c.store.listRuns(100)).filter((r) => r.reason === 'IndividualCI');

  beforeEach(async () => {
    c = await startCoordinator();
    root = await mkdtemp(join(tmpdir(), 'slipway-deliveries-'));
    git(root, 'init', '--quiet', '--bare', '--initial-branch=main', 'origin.git');
    git(root, 'init', '--quiet', '--initial-branch=main', 'work');
    work = join(root, 'work');
    git(work, 'remote', 'add', 'origin', join(root, 'origin.git'));
    await writeFile(join(work, 'azure-pipelines.yml'), 'steps:\n- script: echo pushed\n');
    await push('first');
    const vault = new SecretVault(randomBytes(32));
    replicas = ['a', 'b'].map(
      (id) =>
        new RepositoryService({
          store: c.store,
          clock: c.clock,
          logger: silentLogger,
          vault,
          scheduler: c.scheduler,
          runs: c.runs,
          git: new GitRunner({ stateDir: join(root, `state-${id}`) }),
          mirrorsDir: join(root, `mirrors-${id}`),
          publicUrl: () => 'http://ci.example',
          replicaId: `replica-${id}`,
        }),
    );
    await replicas[0]!.add({ name: 'app', url: `file://${join(root, 'origin.git')}` });
  });
  afterEach(async () => {
    await Promise.all(replicas.map((r) => r.idle()));
    await c.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('acts on each delivery once when both replicas drain the queue at the same time', async () => {
    const first = git(work, 'rev-parse', 'HEAD');
    const second = await push('second');
    const third = await push('third');
    await deliver('d1', first, second);
    await deliver('d2', second, third);
    await Promise.all([replicas[0]!.drain('app'), replicas[1]!.drain('app'), replicas[1]!.drain('app')]);
    await Promise.all(replicas.map((r) => r.idle()));
    expect(await c.store.countPendingDeliveries('app')).toBe(0);
    expect((await ciRuns()).map((r) => r.source.commit).sort()).toEqual([second, third].sort());
  });

  it('leaves a queue another replica holds, and takes it over once that claim ran out', async () => {
    const first = git(work, 'rev-parse', 'HEAD');
    const second = await push('second');
    await deliver('d1', first, second);
    // Replica b claimed the queue and died before acting on it.
    expect(await c.store.claimDeliveries('app', 'replica-b', c.clock.now() + 120_000, c.clock.now())).toBe(
      true,
    );
    await replicas[0]!.drain('app');
    expect(await c.store.countPendingDeliveries('app')).toBe(1);
    expect(await ciRuns()).toEqual([]);
    c.clock.t = c.clock.now() + 120_001;
    await replicas[0]!.drain('app');
    expect(await c.store.countPendingDeliveries('app')).toBe(0);
    expect((await ciRuns()).map((r) => r.source.commit)).toEqual([second]);
  });
});
