import { readFile, rm } from 'node:fs/promises';
import { ApiClient, ConnectionError, HttpError, withRetry } from '../protocol/client.js';
import {
  agentTokenResponse,
  type JobSpec,
  jobOffer,
  jobSpec,
  openSessionResponse,
  registerAgentResponse,
} from '../protocol/schemas.js';
import { sleep } from '../shared/clock.js';
import { ValidationError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { collectCapabilities } from './capabilities.js';
import type { AgentConfig } from './config.js';
import { AgentIdentity } from './identity.js';
import { runJob } from './job-runner.js';
import type { JobUser } from './job-user.js';
import { AGENT_VERSION } from './version.js';

export type AgentState = 'idle' | 'running' | 'draining' | 'stopped';

export interface AgentOptions {
  config: AgentConfig;
  /** The environment steps inherit, credentials already removed by the caller. */
  env: Record<string, string>;
  /** Steps run as this user (`--job-user`); default: the agent's own. */
  jobUser?: JobUser;
  logger: Logger;
}

/** How long the agent keeps trying to reach a server that is down before it gives up. */
const RECONNECT_DEADLINE_MS = 10 * 60_000;

/**
 * The agent's lifecycle: register with a PAT or a one-use ticket, trade signed assertions for
 * access tokens, open a session, poll, claim, run, and deregister on the way out.
 */
export class Agent {
  state: AgentState = 'idle';
  jobsRun = 0;
  private readonly client: ApiClient;
  private readonly identity = new AgentIdentity();
  private readonly shutdown = new AbortController();
  private agentId = '';
  private accessToken = '';
  private accessExpiresAt = 0;
  private sessionId = '';
  private running = false;
  private exitCode = 0;

  constructor(private readonly o: AgentOptions) {
    this.client = new ApiClient(o.config.url);
  }

  /** Runs until `--once` is satisfied or `stop()` is called. Resolves with the process exit code. */
  async run(): Promise<number> {
    this.state = 'running';
    const secret = await this.readCredential();
    const ticketBound = this.o.config.ticketFile !== undefined;
    await this.register(secret);
    try {
      await this.openSession();
      while (!this.shutdown.signal.aborted) {
        const offer = await this.poll();
        if (!offer) continue;
        const ran = await this.claimAndRun(offer.jobId);
        if (ran && (this.o.config.once || ticketBound)) break;
      }
    } catch (err) {
      // A stop aborts whatever request was in flight; that is the way out, not a failure.
      if (!this.shutdown.signal.aborted) throw err;
    } finally {
      this.state = 'draining';
      await this.deregister();
      this.state = 'stopped';
    }
    return this.exitCode;
  }

  /** Stops polling; a running job is canceled (its steps get SIGTERM, then SIGKILL). */
  stop(): void {
    if (this.shutdown.signal.aborted) return;
    this.o.logger.info({ running: this.running }, 'stopping');
    this.shutdown.abort();
  }

  private async readCredential(): Promise<string> {
    const c = this.o.config;
    if (c.token) return c.token;
    const file = (c.ticketFile ?? c.tokenFile)!;
    const text = (await readFile(file, 'utf8')).trim();
    // A ticket is for this start only; removing it keeps it from any job that follows.
    if (c.ticketFile) await rm(file, { force: true });
    if (!text) throw new ValidationError(`${file} is empty`);
    return text;
  }

  private async register(secret: string): Promise<void> {
    const c = this.o.config;
    const { body } = await withRetry(
      () =>
        this.client.request('agents/register', {
          token: secret,
          body: { pool: c.pool, name: c.name, publicKey: this.identity.publicKeyPem, replace: c.replace },
        }),
      { deadlineMs: RECONNECT_DEADLINE_MS, signal: this.shutdown.signal },
    );
    this.agentId = registerAgentResponse.parse(body).agentId;
    this.o.logger.info('registered');
  }

  private async token(): Promise<string> {
    if (this.accessToken && Date.now() < this.accessExpiresAt - 60_000) return this.accessToken;
    const { body } = await this.client.request('agents/token', {
      body: { assertion: await this.identity.assertion(this.agentId) },
    });
    const t = agentTokenResponse.parse(body);
    this.accessToken = t.accessToken;
    this.accessExpiresAt = Date.parse(t.expiresAt);
    return this.accessToken;
  }

  private async openSession(): Promise<void> {
    const c = this.o.config;
    const capabilities = collectCapabilities(this.o.env, c.capabilities, {
      name: c.name,
      version: AGENT_VERSION,
    });
    const { body } = await this.call('agents/session', { capabilities, version: AGENT_VERSION });
    this.sessionId = openSessionResponse.parse(body).sessionId;
  }

  /** An authenticated call that survives a restarting server and renews its access token. */
  private call(path: string, body: unknown, timeoutMs = 30_000) {
    return withRetry(
      async () => {
        try {
          return await this.client.request(path, {
            token: await this.token(),
            body,
            timeoutMs,
            signal: this.shutdown.signal,
          });
        } catch (err) {
          if (err instanceof HttpError && err.status === 401 && /expired/.test(err.detail))
            this.accessToken = '';
          throw err;
        }
      },
      {
        deadlineMs: RECONNECT_DEADLINE_MS,
        signal: this.shutdown.signal,
        onRetry: (err) => this.o.logger.warn({ err: (err as Error).message }, 'server unreachable; retrying'),
      },
    );
  }

  private async poll() {
    try {
      const res = await this.call('agents/poll', { sessionId: this.sessionId }, 60_000);
      return res.status === 204 ? null : jobOffer.parse(res.body);
    } catch (err) {
      if (this.shutdown.signal.aborted) return null;
      // The job this agent was started for is gone: nothing left to do.
      if (err instanceof HttpError && err.status === 410) {
        this.o.logger.info({ reason: err.detail }, 'nothing to run');
        this.shutdown.abort();
        return null;
      }
      // The server forgot our session (e.g. a newer one took over, or the store was reset), or
      // still counts our last job as running: wait a moment, then start a fresh session.
      if (err instanceof HttpError && err.status === 409) {
        await sleep(1_000, this.shutdown.signal);
        await this.openSession();
        return null;
      }
      throw err;
    }
  }

  private async claimAndRun(jobId: string): Promise<boolean> {
    let spec: JobSpec;
    try {
      const { body } = await this.call(`jobs/${jobId}/claim`, { sessionId: this.sessionId });
      spec = jobSpec.parse(body);
    } catch (err) {
      if (err instanceof HttpError && (err.status === 409 || err.status === 404)) return false; // another agent won
      throw err;
    }
    this.running = true;
    const log = this.o.logger.child({ jobId, attempt: spec.attempt });
    log.info({ job: spec.plan.name }, 'job started');
    try {
      const outcome = await runJob({
        client: this.client,
        spec,
        agent: { id: this.agentId, name: this.o.config.name, pool: this.o.config.pool },
        work: this.o.config.work,
        baseEnv: this.o.env,
        killGraceMs: this.o.config.killGraceSeconds * 1000,
        jobUser: this.o.jobUser,
        logger: log,
        shutdown: this.shutdown.signal,
      });
      log.info({ result: outcome.result, reason: outcome.reason }, 'job finished');
      if (outcome.leaseLost) {
        // The server has failed this attempt already; what this agent knows is stale. Leave,
        // and let whoever runs agents (a fleet, a supervisor) start a fresh one.
        log.error('lease lost: the job was stopped; exiting');
        this.exitCode = 3;
        this.shutdown.abort();
      }
    } finally {
      this.running = false;
      this.jobsRun++;
    }
    return true;
  }

  /** Removes the registration; while the server still counts a job as running, retries. */
  private async deregister(): Promise<void> {
    if (!this.agentId) return;
    const until = Date.now() + this.o.config.deregisterTimeoutSeconds * 1000;
    for (;;) {
      try {
        await this.client.request('agents/self', {
          method: 'DELETE',
          token: await this.token(),
          timeoutMs: 10_000,
        });
        this.o.logger.info('deregistered');
        return;
      } catch (err) {
        const retry =
          (err instanceof HttpError && (err.status === 409 || err.status >= 500)) ||
          err instanceof ConnectionError;
        if (!retry || Date.now() >= until) {
          this.o.logger.warn({ err: (err as Error).message }, 'could not deregister');
          return;
        }
        await sleep(500);
      }
    }
  }
}
