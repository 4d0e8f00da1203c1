import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalDiskBlobStore } from '../blobs/index.js';
import { type CreateRunRequest, createRunRequest } from '../protocol/schemas.js';
import { ArtifactStore } from '../server/artifact-store.js';
import { Auth } from '../server/auth.js';
import { Dispatcher } from '../server/dispatcher.js';
import { InProcessNotifier } from '../server/notifier.js';
import { Scheduler } from '../server/scheduler.js';
import { SecretVault } from '../server/secret-vault.js';
import { ArtifactService, JobService, RunService } from '../server/services/index.js';
import { WorkspaceStore } from '../server/workspace-store.js';
import { silentLogger } from '../shared/logger.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import type { PoolSettings } from '../store/types.js';

/** A clock that moves only when told to. */
export class FakeClock {
  constructor(public t = Date.UTC(2026, 0, 1)) {}
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

export const LEASE_TTL_MS = 90_000;

/**
 * The coordinator's parts without HTTP: a real SQLite store and blob folders in a temporary
 * directory, a fake clock, and the run, job and artifact services built as the server builds them.
 */
export async function startCoordinator(pool: Partial<PoolSettings> = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-services-'));
  const clock = new FakeClock();
  const store = new SqliteStore(join(dir, 'slipway.db'));
  await store.ensurePool('default', { allowDockerSocket: false, ...pool }, clock.now());
  const notifier = new InProcessNotifier();
  const logger = silentLogger;
  const dispatcher = new Dispatcher({ store, clock, logger });
  const scheduler = new Scheduler({
    store,
    clock,
    logger,
    auth: new Auth({ store, clock, logger }),
    dispatcher,
    notifier,
    vault: new SecretVault(randomBytes(32)),
    leaseTtlMs: LEASE_TTL_MS,
  });
  const blobs = new LocalDiskBlobStore({ root: join(dir, 'blobs') });
  const workspaces = new WorkspaceStore(blobs);
  const artifacts = new ArtifactStore(blobs);
  const runs = new RunService({ store, scheduler, notifier, workspaces, clock });
  const jobs = new JobService({ store, scheduler, notifier, workspaces, clock });
  const artifactService = new ArtifactService({ store, scheduler, artifacts });
  let agents = 0;

  return {
    dir,
    clock,
    store,
    notifier,
    scheduler,
    runs,
    jobs,
    artifacts: artifactService,
    /** Queues a run of `yaml` (jobs of pool `default`). */
    async queue(yaml: string, extra: Partial<CreateRunRequest> = {}) {
      return runs.create(createRunRequest.parse({ pipeline: { file: 'p.yml', content: yaml }, ...extra }));
    },
    /** Claims the job for a new agent, as an agent's claim does; the lease credential comes back. */
    async claim(jobId: string) {
      agents++;
      const agent = await store.registerAgent(
        { id: `agent-${agents}`, pool: 'default', name: `agent-${agents}`, publicKey: 'k', replace: false },
        clock.now(),
      );
      const spec = await scheduler.claim(jobId, agent);
      return { spec, cred: { jobId, epoch: spec.epoch } };
    },
    async stop() {
      scheduler.stop();
      dispatcher.stop();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export type Coordinator = Awaited<ReturnType<typeof startCoordinator>>;
