import { readFile, rm } from 'node:fs/promises';
import type { JobSpec } from '../protocol/index.js';
import {
  AGENT_VERSION,
  ApiClient,
  answerDetail,
  answeredStatus,
  type CallOptions,
  ConnectionError,
  isTransient,
} from '../protocol/index.js';
import { sleep } from '../shared/clock.js';
import {
  AgentBusyError,
  AuthError,
  ClaimLostError,
  GoneError,
  NotFoundError,
  SessionReplacedError,
  SlipwayError,
  ValidationError,
} from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { collectCapabilities } from './capabilities.js';
import type { AgentConfig } from './config.js';
import { AgentIdentity } from './identity.js';
import type { JobUser } from './job-user.js';

/**
 * The job runner (steps, tasks, logs and their schemas) is loaded once the agent has sent its
 * first request, not before it: evaluating it is work that waits for no answer, so it overlaps
 * the round trips to the first claim instead of delaying the first of them.
 */
let jobRunner: Promise<typeof import('./job-runner.js')> | undefined;
const loadJobRunner = () => {
  jobRunner ??= import('./job-runner.js');
  return jobRunner;
};

export type AgentState = 'idle' | 'running' | 'draining' | 'stopped';

export interface AgentOptions {
  config: AgentConfig;
  /** The environment steps inherit, credentials already removed by the caller. */
  env: Record<string, string>;
  /** Steps run as this user (`--job-user`); default: the agent's own. */
  jobUser?: JobUser;
  logger: Logger;
}

/** The first wait before retrying an unreachable server; it doubles on each retry, up to the cap. */
const RETRY_BASE_MS = 500;
const RETRY_CAP_MS = 15_000;

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
  /** The job a fleet's ticket was made for, when it was: claimed at once, with no poll first. */
  private boundJobId: string | undefined;
  private accessToken = '';
  private accessExpiresAt = 0;
  private sessionId = '';
  private running = false;
  private exitCode = 0;
  /** Set when the agent gave up on an unreachable server: deregistering is then tried once only. */
  private gaveUp = false;

  constructor(private readonly o: AgentOptions) {
    // node:http for whole answers: the agent's first answer would otherwise load fetch's undici (≈ a
    // quarter of a cold agent's CPU); streamed downloads (workspace, caches, artifacts) still use fetch.
    this.client = new ApiClient(o.config.url, { transport: 'node-http' });
  }

  /** Runs until `--once` is satisfied or `stop()` is called. Resolves with the process exit code. */
  async run(): Promise<number> {
    this.state = 'running';
    const secret = await this.readCredential();
    const ticketBound = this.o.config.ticketFile !== undefined;
    try {
      let ranBound = false;
      if (ticketBound) {
        // One round trip to the first step: the ticket registers, opens the session and claims.
        const spec = await this.start(secret);
        ranBound = spec ? await this.runClaimed(spec) : false;
      } else {
        await this.register(secret);
        await this.openSession();
      }
      // The bound job not claimed at start (a lost answer, a busy store): claim it, no poll first.
      if (!ranBound && this.boundJobId !== undefined) ranBound = await this.claimAndRun(this.boundJobId);
      while (!ranBound && !this.shutdown.signal.aborted) {
        const offer = await this.poll();
        if (!offer) continue;
        // A server that claims on poll sends the spec; an older one only offers the job.
        const ran = offer.spec ? await this.runClaimed(offer.spec) : await this.claimAndRun(offer.jobId);
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

  /** Registers with a ticket, takes the access token and session it answers with; its job's spec if claimed. */
  private async start(ticket: string): Promise<JobSpec | undefined> {
    const c = this.o.config;
    const started = await this.untilReachable(() => {
      const sent = this.client.start(
        {
          pool: c.pool,
          name: c.name,
          publicKey: this.identity.publicKeyPem,
          capabilities: this.capabilities(),
          version: AGENT_VERSION,
        },
        { token: ticket, signal: this.shutdown.signal },
      );
      setImmediate(() => void loadJobRunner().catch(() => undefined));
      return sent;
    });
    this.agentId = started.agentId;
    this.boundJobId = started.boundJobId;
    this.accessToken = started.accessToken;
    this.accessExpiresAt = Date.parse(started.expiresAt);
    this.sessionId = started.sessionId;
    this.o.logger.info('registered');
    return started.spec;
  }

  private async register(secret: string): Promise<void> {
    const c = this.o.config;
    const registered = await this.untilReachable(() => {
      const sent = this.client.register(
        { pool: c.pool, name: c.name, publicKey: this.identity.publicKeyPem, replace: c.replace },
        { token: secret, signal: this.shutdown.signal },
      );
      // A macrotask later, so the request is on the wire first.
      setImmediate(() => void loadJobRunner().catch(() => undefined));
      return sent;
    });
    this.agentId = registered.agentId;
    this.boundJobId = registered.boundJobId;
    this.o.logger.info('registered');
  }

  private async token(): Promise<string> {
    if (this.accessToken && Date.now() < this.accessExpiresAt - 60_000) return this.accessToken;
    const t = await this.client.exchangeToken({ assertion: await this.identity.assertion(this.agentId) });
    this.accessToken = t.accessToken;
    this.accessExpiresAt = Date.parse(t.expiresAt);
    return this.accessToken;
  }

  private capabilities(): Record<string, string> {
    const c = this.o.config;
    return collectCapabilities(this.o.env, c.capabilities, { name: c.name, version: AGENT_VERSION });
  }

  private async openSession(): Promise<void> {
    const capabilities = this.capabilities();
    const session = await this.call((o) =>
      this.client.openSession({ capabilities, version: AGENT_VERSION }, o),
    );
    this.sessionId = session.sessionId;
  }

  /** An authenticated call that survives a restarting server and renews its access token. */
  private call<T>(fn: (o: CallOptions) => Promise<T>, timeoutMs = 30_000): Promise<T> {
    return this.untilReachable(async () => {
      try {
        return await fn({ token: await this.token(), timeoutMs, signal: this.shutdown.signal });
      } catch (err) {
        if (err instanceof AuthError && /expired/.test(err.reason)) this.accessToken = '';
        throw err;
      }
    });
  }

  /**
   * Retries `fn` while the server is unreachable or overloaded. Says so at once and on every
   * retry, naming the URL and the cause, waits twice as long each time (with jitter, so a fleet
   * does not come back in one wave) up to a cap, and keeps going for good, except that an agent
   * for one job (`--once`, a ticket) gives up with exit 3 after `retryForSeconds`.
   */
  private async untilReachable<T>(fn: () => Promise<T>): Promise<T> {
    const c = this.o.config;
    const giveUpMs =
      c.once || c.ticketFile !== undefined ? c.retryForSeconds * 1000 : Number.POSITIVE_INFINITY;
    let downSince: number | undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await fn();
        if (downSince !== undefined)
          this.o.logger.info({ url: c.url }, `reached the server at ${c.url} again`);
        return result;
      } catch (err) {
        if (!isTransient(err) || this.shutdown.signal.aborted) throw err;
        downSince ??= Date.now();
        const cause = describeUnreachable(err);
        // fetch never connects to a port on its block list: waiting will not change that.
        if (cause === BAD_PORT) throw new ValidationError(`cannot use ${c.url}: ${cause}`);
        const left = downSince + giveUpMs - Date.now();
        if (left <= 0) {
          this.gaveUp = true;
          const seconds = Math.round((Date.now() - downSince) / 1000);
          throw new ConnectionError(
            `gave up after ${seconds}s: cannot reach the server at ${c.url}: ${cause}`,
            {
              cause: err,
            },
          );
        }
        const backoff = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** Math.min(attempt - 1, 10));
        const wait = Math.min(left, backoff * (0.5 + Math.random() / 2));
        this.o.logger.warn(
          { url: c.url, cause, attempt, retryInMs: Math.round(wait) },
          `cannot reach the server at ${c.url}: ${cause}; retrying in ${(wait / 1000).toFixed(1)}s`,
        );
        await sleep(wait, this.shutdown.signal);
        if (this.shutdown.signal.aborted) throw err;
      }
    }
  }

  private async poll() {
    try {
      // The poll claims what it finds: no second round trip between the offer and the job.
      return await this.call((o) => this.client.poll({ sessionId: this.sessionId, claim: true }, o), 60_000);
    } catch (err) {
      if (this.shutdown.signal.aborted) return null;
      // The offered job went to another agent or away while it was claimed for us: poll again.
      if (err instanceof ClaimLostError || err instanceof NotFoundError) return null;
      // The job this agent was started for is gone: nothing left to do.
      if (err instanceof GoneError) {
        this.o.logger.info({ reason: answerDetail(err) }, 'nothing to run');
        this.shutdown.abort();
        return null;
      }
      // The server forgot our session (e.g. a newer one took over, or the store was reset), or
      // still counts our last job as running: wait a moment, then start a fresh session.
      if (err instanceof SessionReplacedError || err instanceof AgentBusyError) {
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
      spec = await this.call((o) => this.client.claim(jobId, { sessionId: this.sessionId }, o));
    } catch (err) {
      if (lostTheClaim(err)) return false;
      throw err;
    }
    return this.runClaimed(spec);
  }

  /** Runs a claimed job to its end; true once it ran. */
  private async runClaimed(spec: JobSpec): Promise<boolean> {
    const { jobId } = spec;
    this.running = true;
    const log = this.o.logger.child({
      runId: spec.runId,
      jobId,
      agentId: this.agentId,
      attempt: spec.attempt,
    });
    log.info({ job: spec.plan.name }, 'job started');
    try {
      const { runJob } = await loadJobRunner();
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
        await this.client.deregister({ token: await this.token(), timeoutMs: 10_000 });
        this.o.logger.info('deregistered');
        return;
      } catch (err) {
        const retry =
          err instanceof AgentBusyError ||
          (answeredStatus(err) ?? 0) >= 500 ||
          err instanceof ConnectionError;
        if (!retry || this.gaveUp || Date.now() >= until) {
          this.o.logger.warn({ err: (err as Error).message }, 'could not deregister');
          return;
        }
        await sleep(500);
      }
    }
  }
}

/**
 * Another agent won the job or it is gone; or this session was replaced or still counts a job
 * as running, which the next poll sorts out. Either way: no job, poll again.
 */
function lostTheClaim(err: unknown): boolean {
  return (
    err instanceof ClaimLostError ||
    err instanceof NotFoundError ||
    err instanceof SessionReplacedError ||
    err instanceof AgentBusyError
  );
}

const BAD_PORT = 'this port is on the block list of Node fetch (bad port); serve on another port';

/**
 * Why a request did not get through, in words a user can act on: the fetch error's code says
 * whether nothing listens, the name does not resolve, or one side speaks TLS and the other not.
 */
export function describeUnreachable(err: unknown): string {
  const status = answeredStatus(err);
  if (status !== undefined) return `the server answered ${status} (${answerDetail(err)})`;
  const chain: { code?: string; message?: string; name?: string }[] = [];
  for (let e = err as { cause?: unknown } | undefined; e && chain.length < 5; e = e.cause as typeof e)
    chain.push(e as (typeof chain)[number]);
  // Our own errors carry a wire code (`internal`), not a socket's: the cause below names it.
  const code = chain
    .filter((e) => !(e instanceof SlipwayError))
    .map((e) => e.code)
    .find((c) => typeof c === 'string');
  const last = chain[chain.length - 1];
  if (!code && last?.message === 'bad port') return BAD_PORT;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused (ECONNREFUSED): nothing listens there; check the host and port';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the host name does not resolve (${code})`;
    case 'ENOENT':
      return 'no socket at that path (ENOENT)';
    case 'EACCES':
      return 'permission denied (EACCES)';
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `the connection timed out (${code})`;
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
    case 'EPROTO':
      return `TLS handshake failed (${code}): is the server plain http? then use http://`;
    case 'UND_ERR_SOCKET':
    case 'ECONNRESET':
      return `the server closed the connection (${code}): if it speaks TLS, use https://`;
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'CERT_HAS_EXPIRED':
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `the server's TLS certificate is not trusted (${code}); NODE_EXTRA_CA_CERTS can add a CA`;
    default:
      if (chain.some((e) => e.name === 'TimeoutError')) return 'no answer in time (timed out)';
      return code ? `${last?.message ?? 'error'} (${code})` : (last?.message ?? String(err));
  }
}
