import type { Readable } from 'node:stream';
import { NotFoundError, ValidationError } from '../../shared/errors.js';
import type { Store } from '../../store/index.js';
import type { ArtifactStore } from '../artifact-store.js';
import type { Scheduler } from '../scheduler.js';
import { type JobCredential, leasedJob } from './jobs.js';
import { findRun } from './runs.js';

export interface ArtifactServiceOptions {
  store: Store;
  /** Masks the run's secrets: an artifact name must not carry one. */
  scheduler: Scheduler;
  artifacts: ArtifactStore;
}

export interface ArtifactInfo {
  name: string;
  size: number;
}

/**
 * Pipeline artifacts, scoped to their run: a running job publishes and downloads them with its
 * lease (the agent's `publish` and `download` steps); people list and fetch them by run.
 */
export class ArtifactService {
  constructor(private readonly o: ArtifactServiceOptions) {}

  /** Publishes `name` once per run: a second publish of the same name is a conflict. */
  async publish(cred: JobCredential, jobId: string, name: string, archive: Buffer): Promise<ArtifactInfo> {
    const job = await leasedJob(this.o.store, cred, jobId);
    // Names are listed in clear and kept as file names; the agent refuses these already.
    const mask = await this.o.scheduler.runSecretMask(job.runId);
    if (mask(name) !== name)
      throw new ValidationError('the artifact name contains a secret; choose another name');
    return this.o.artifacts.put(job.runId, name, archive);
  }

  /** The artifacts of the job's run, for the attempt that holds the lease. */
  async listForJob(cred: JobCredential, jobId: string): Promise<ArtifactInfo[]> {
    const job = await leasedJob(this.o.store, cred, jobId);
    return this.o.artifacts.list(job.runId);
  }

  async openForJob(cred: JobCredential, jobId: string, name: string): Promise<Readable> {
    const job = await leasedJob(this.o.store, cred, jobId);
    return this.open(job.runId, name);
  }

  /** The artifacts of a run, addressed by id or number. */
  async listForRun(idOrNumber: string): Promise<ArtifactInfo[]> {
    return this.o.artifacts.list((await findRun(this.o.store, idOrNumber)).id);
  }

  async openForRun(idOrNumber: string, name: string): Promise<Readable> {
    return this.open((await findRun(this.o.store, idOrNumber)).id, name);
  }

  private async open(runId: string, name: string): Promise<Readable> {
    const stream = await this.o.artifacts.open(runId, name);
    if (!stream) throw new NotFoundError('artifact', name);
    return stream;
  }
}
