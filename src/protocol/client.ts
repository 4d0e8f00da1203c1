import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { z } from 'zod';
import { sleep } from '../shared/clock.js';
import {
  AgentBusyError,
  AuthError,
  ClaimLostError,
  ConflictError,
  ForbiddenError,
  GoneError,
  LeaseLostError,
  LogGapError,
  NotFoundError,
  PipelineError,
  PipelineErrors,
  RateLimitError,
  ResultConflictError,
  SessionReplacedError,
  SlipwayError,
  ValidationError,
} from '../shared/errors.js';
import { FeedFrameReader, type FeedItem } from './feed-frames.js';
import {
  createHttpSend,
  FETCH_BAD_PORTS,
  type HttpSend,
  type HttpTarget,
  type PlainAnswer,
} from './http-send.js';
import {
  type AgentView,
  API_PREFIX,
  addRepositoryRequest,
  addRepositoryResponse,
  agentTokenRequest,
  agentTokenResponse,
  agentView,
  appendLogQuery,
  appendLogResponse,
  artifactView,
  CACHE_ARCHIVE_TYPE,
  cacheLookupRequest,
  cacheLookupResponse,
  cacheReserveRequest,
  cacheReserveResponse,
  type cacheSaveQuery,
  cacheSaveResponse,
  claimRequest,
  completeJobRequest,
  createPoolRequest,
  createRunRequest,
  createTicketRequest,
  createTicketResponse,
  createTokenRequest,
  createTokenResponse,
  createVariableGroupRequest,
  drainAgentResponse,
  errorBody,
  failJobRequest,
  fleetHeartbeatRequest,
  fleetView,
  heartbeatRequest,
  heartbeatResponse,
  type JobSpec,
  jobSpec,
  type ListRunsQuery,
  openSessionRequest,
  openSessionResponse,
  type PollAnswer,
  type PoolDemand,
  type PoolView,
  pollAnswer,
  pollRequest,
  poolDemandResponse,
  poolView,
  queueView,
  type RepositoryView,
  type RunView,
  registerAgentRequest,
  registerAgentResponse,
  repositoryErrorView,
  repositoryRunRequest,
  repositoryView,
  rerunRequest,
  runEventsResponse,
  runView,
  startAgentRequest,
  startAgentResponse,
  stepUpdateRequest,
  updatePoolRequest,
  updateVariableGroupRequest,
  uploadWorkspaceResponse,
  variableGroupView,
} from './schemas.js';
import { createUnixFetch, type UnixFetch } from './unix-fetch.js';

/** The server answered with an error status; `code` and `message` come from its JSON body. */
export class HttpError extends SlipwayError {
  constructor(
    readonly status: number,
    override readonly code: string,
    readonly detail: string,
  ) {
    super(`${status} ${code}: ${detail}`);
  }
}

/** The server could not be reached (refused, reset, timed out). */
export class ConnectionError extends SlipwayError {}

/** An error body as the server sends it: a code, a message, and the fields some codes carry. */
const wireError = errorBody.shape.error.extend({
  offset: z.number().int().optional(),
  length: z.number().int().optional(),
  jobId: z.string().optional(),
  epoch: z.number().int().optional(),
});
export type WireError = z.infer<typeof wireError>;

/**
 * The one table from a wire code back to the error the server threw, so callers branch on
 * `instanceof LeaseLostError` and never on a status. A code that is missing here, or whose body
 * lacks a field the error needs, stays an `HttpError` with its status and code.
 */
const errorsByCode: Record<string, (e: WireError) => SlipwayError | undefined> = {
  invalid_request: (e) => new ValidationError(e.message),
  invalid_pipeline: (e) => pipelineErrors(e.message),
  unauthorized: (e) => new AuthError(e.message),
  forbidden: (e) => new ForbiddenError(e.message),
  not_found: () => new NotFoundError('', ''),
  conflict: (e) => new ConflictError(e.message),
  claim_lost: (e) => new ClaimLostError(e.jobId ?? '', e.message),
  session_replaced: (e) => new SessionReplacedError(e.message),
  lease_lost: (e) => new LeaseLostError(e.jobId ?? '', e.epoch ?? -1, e.message),
  log_gap: (e) =>
    e.offset === undefined || e.length === undefined ? undefined : new LogGapError(e.offset, e.length),
  result_conflict: (e) => new ResultConflictError(e.message),
  agent_busy: (e) => new AgentBusyError(e.message),
  gone: (e) => new GoneError(e.message),
  rate_limited: (e) => new RateLimitError(e.message),
};

/** The status and the server's own words of each error the client turned from an answer. */
const answered = new WeakMap<object, { status: number; detail: string }>();

/** The typed error for an error answer; `HttpError` when the code has no class of its own. */
export function errorFromAnswer(status: number, body: unknown, text = ''): SlipwayError {
  const parsed = wireError.safeParse((body as { error?: unknown } | undefined)?.error);
  if (!parsed.success) {
    const err = new HttpError(status, 'error', text.slice(0, 200) || `status ${status}`);
    answered.set(err, { status, detail: err.detail });
    return err;
  }
  const { code, message } = parsed.data;
  const typed = errorsByCode[code]?.(parsed.data);
  // Read as an HttpError's always was (`409 lease_lost: …`), wherever a message is shown.
  if (typed) typed.message = `${status} ${code}: ${message}`;
  const err = typed ?? new HttpError(status, code, message);
  answered.set(err, { status, detail: message });
  return err;
}

/** The status of the answer an error came from; undefined when no server answered (or it is local). */
export function answeredStatus(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null ? answered.get(err)?.status : undefined;
}

/** The server's own words for an error it answered (no status, no code); undefined for others. */
export function answerDetail(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? answered.get(err)?.detail : undefined;
}

/** `file:line:col: message` lines back into pipeline errors; anything else stays an HttpError. */
function pipelineErrors(message: string): PipelineErrors | undefined {
  const errors: PipelineError[] = [];
  for (const line of message.split('\n')) {
    const m = /^(.*):(\d+):(\d+): (.*)$/.exec(line);
    if (!m) return undefined;
    errors.push(new PipelineError(m[1]!, Number(m[2]), Number(m[3]), m[4]!));
  }
  return new PipelineErrors(errors);
}

type Schema<Out> = z.ZodType<Out>;

/** What every typed call takes besides its body: the credential, a timeout, a way to abort. */
export type CallOptions = Pick<RequestOptions, 'token' | 'timeoutMs' | 'signal'>;

function poolPath(pool: string, rest: string): string {
  return `pools/${encodeURIComponent(pool)}${rest}`;
}

/**
 * The request as the server's schema reads it (defaults applied). Wrong input fails here, in the
 * server's words (`field: message`), before anything is sent.
 */
function checked(schema: Schema<unknown>, body: unknown): unknown {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new ValidationError(`${issue?.path.join('.') || '(body)'}: ${issue?.message ?? 'invalid'}`);
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  /** Raw body (e.g. an archive) sent as application/octet-stream (or `contentType`); a stream is sent as it is read. */
  raw?: Buffer | Readable;
  contentType?: string;
  token?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * A thin JSON client for the Slipway API, shared by the agent and the CLI. `unix:///path.sock`
 * reaches a server over a Unix socket: fleet containers talk to the coordinator that way, with
 * no port opened to them at all.
 */
export class ApiClient {
  private readonly origin: string;
  private readonly socketPath?: string;
  private unixFetch?: UnixFetch;
  /** Set when whole-answer calls go through `node:http` (`transport: 'node-http'`). */
  private readonly httpSend?: HttpSend;
  /** The base URL's own path (a server behind a prefix), which node:http is given with each path. */
  private readonly httpPrefix: string = '';

  constructor(
    readonly baseUrl: string,
    o: ApiClientOptions = {},
  ) {
    const unix = /^unix:\/\/(\/.+)$/.exec(baseUrl);
    this.socketPath = unix?.[1];
    this.origin = unix ? 'http://localhost' : baseUrl.replace(/\/+$/, '');
    if (o.transport === 'node-http') {
      const http = this.socketPath
        ? { target: { socketPath: this.socketPath }, prefix: '' }
        : httpTarget(this.origin);
      // https://, and a URL fetch alone can say what is wrong with, stay on fetch.
      if (http) {
        this.httpSend = createHttpSend(http.target);
        this.httpPrefix = http.prefix;
      }
    }
  }

  async request<T>(path: string, o: RequestOptions = {}): Promise<{ status: number; body: T }> {
    const { status, statusText, text } = this.httpSend
      ? await this.sendPlain(this.httpSend, path, o)
      : await readWhole(await this.fetch(path, o));
    const body = text ? safeJson(text) : undefined;
    if (status < 200 || status > 299) throw errorFromAnswer(status, body, text || statusText);
    return { status, body: body as T };
  }

  private async sendPlain(send: HttpSend, path: string, o: RequestOptions): Promise<PlainAnswer> {
    const { method, headers, body, signal } = this.prepare(o);
    try {
      return await send({ method, path: `${this.httpPrefix}${this.pathOf(path)}`, headers, body, signal });
    } catch (err) {
      throw this.unreachable(err, o);
    }
  }

  /** A JSON call whose request is checked before it leaves and whose answer is parsed. */
  private async call<Out>(
    path: string,
    o: CallOptions & { method?: string; raw?: Buffer },
    request?: { schema: Schema<unknown>; body: unknown },
    response?: Schema<Out>,
  ): Promise<Out> {
    const body = request ? checked(request.schema, request.body) : undefined;
    const res = await this.request<unknown>(path, { ...o, body });
    return response ? response.parse(res.body) : (undefined as Out);
  }

  // ── agents ─────────────────────────────────────────────────────────────────────
  /** Registers with a PAT or a one-use ticket (`o.token`). */
  register(body: z.input<typeof registerAgentRequest>, o: CallOptions) {
    return this.call('agents/register', o, { schema: registerAgentRequest, body }, registerAgentResponse);
  }

  /** A ticket's agent: registers, gets its access token and session, and claims its bound job at once. */
  start(body: z.input<typeof startAgentRequest>, o: CallOptions) {
    return this.call('agents/start', o, { schema: startAgentRequest, body }, startAgentResponse);
  }

  /** Trades a signed assertion for a short-lived access token. */
  exchangeToken(body: z.input<typeof agentTokenRequest>, o: CallOptions = {}) {
    return this.call('agents/token', o, { schema: agentTokenRequest, body }, agentTokenResponse);
  }

  openSession(body: z.input<typeof openSessionRequest>, o: CallOptions) {
    return this.call('agents/session', o, { schema: openSessionRequest, body }, openSessionResponse);
  }

  /**
   * Long-polls for a job offer; null when the poll ended without one. With `claim: true` the
   * answer carries the claimed job's spec (a server that predates it answers with the offer alone).
   */
  async poll(body: z.input<typeof pollRequest>, o: CallOptions): Promise<PollAnswer | null> {
    const res = await this.request<unknown>('agents/poll', { ...o, body: checked(pollRequest, body) });
    return res.status === 204 ? null : pollAnswer.parse(res.body);
  }

  claim(jobId: string, body: z.input<typeof claimRequest>, o: CallOptions): Promise<JobSpec> {
    return this.call(`jobs/${jobId}/claim`, o, { schema: claimRequest, body }, jobSpec);
  }

  heartbeat(jobId: string, body: z.input<typeof heartbeatRequest>, o: CallOptions) {
    return this.call(`jobs/${jobId}/heartbeat`, o, { schema: heartbeatRequest, body }, heartbeatResponse);
  }

  /** Appends raw log bytes at `at.offset` (text is sent as UTF-8); the body is the bytes alone. */
  async appendLog(
    jobId: string,
    at: z.input<typeof appendLogQuery> & { data: Buffer | string },
    o: CallOptions,
  ) {
    const { data, ...where } = at;
    const q = checked(appendLogQuery, where) as z.output<typeof appendLogQuery>;
    const raw = typeof data === 'string' ? Buffer.from(data) : data;
    const res = await this.request<unknown>(`jobs/${jobId}/logs${queryString(q)}`, { ...o, raw });
    return appendLogResponse.parse(res.body);
  }

  async reportStep(jobId: string, body: z.input<typeof stepUpdateRequest>, o: CallOptions): Promise<void> {
    await this.call(`jobs/${jobId}/steps`, o, { schema: stepUpdateRequest, body });
  }

  async complete(jobId: string, body: z.input<typeof completeJobRequest>, o: CallOptions): Promise<void> {
    await this.call(`jobs/${jobId}/complete`, o, { schema: completeJobRequest, body });
  }

  /** Removes the calling agent's own registration. */
  async deregister(o: CallOptions): Promise<void> {
    await this.call('agents/self', { ...o, method: 'DELETE' });
  }

  /** Publishes an artifact of the running job (a gzipped tar). */
  async publishArtifact(jobId: string, name: string, archive: Buffer, o: CallOptions): Promise<void> {
    const path = `jobs/${jobId}/artifacts/${encodeURIComponent(name)}`;
    await this.call(path, { ...o, method: 'PUT', raw: archive });
  }

  /** The artifacts published in the running job's run so far. */
  jobArtifacts(jobId: string, o: CallOptions) {
    return this.call(`jobs/${jobId}/artifacts`, o, undefined, artifactView.array());
  }

  // ── caches (the running job's lease token) ───────────────────────────────────
  /** The entry to restore for the first key that hits (exactly, then the rest as prefixes); null on a miss. */
  cacheLookup(jobId: string, body: z.input<typeof cacheLookupRequest>, o: CallOptions) {
    const path = `jobs/${jobId}/caches/lookup`;
    return this.call(path, o, { schema: cacheLookupRequest, body }, cacheLookupResponse);
  }

  /** Whether a save of `key` would be taken; refused (ValidationError) when it is too large. */
  cacheReserve(jobId: string, body: z.input<typeof cacheReserveRequest>, o: CallOptions) {
    const path = `jobs/${jobId}/caches/reserve`;
    return this.call(path, o, { schema: cacheReserveRequest, body }, cacheReserveResponse);
  }

  /** Uploads a cache archive, streamed; the server checks it against `q.sha256` before keeping it. */
  async cacheSave(jobId: string, q: z.input<typeof cacheSaveQuery>, archive: Readable, o: CallOptions) {
    const query = new URLSearchParams({ key: q.key, sha256: q.sha256, size: String(q.size) });
    const res = await this.fetch(`jobs/${jobId}/caches?${query}`, {
      ...o,
      method: 'PUT',
      raw: archive,
      contentType: CACHE_ARCHIVE_TYPE,
    });
    const text = await res.text();
    const body = text ? safeJson(text) : undefined;
    if (!res.ok) throw errorFromAnswer(res.status, body, text || res.statusText);
    return cacheSaveResponse.parse(body);
  }

  /** A cache entry's archive as a stream (the caller verifies its checksum before using it). */
  async cacheOpen(jobId: string, entryId: string, o: CallOptions): Promise<Readable> {
    const res = await this.fetch(`jobs/${jobId}/caches/entries/${encodeURIComponent(entryId)}`, o);
    if (!res.ok || !res.body) {
      const text = await res.text();
      throw errorFromAnswer(res.status, text ? safeJson(text) : undefined, text || res.statusText);
    }
    return Readable.fromWeb(res.body as unknown as WebReadableStream);
  }

  // ── runs ───────────────────────────────────────────────────────────────────────
  uploadWorkspace(archive: Buffer, o: CallOptions) {
    return this.call('workspaces', { ...o, method: 'PUT', raw: archive }, undefined, uploadWorkspaceResponse);
  }

  createRun(body: z.input<typeof createRunRequest>, o: CallOptions): Promise<RunView> {
    return this.call('runs', o, { schema: createRunRequest, body }, runView);
  }

  getRun(runId: string, o: CallOptions): Promise<RunView> {
    return this.call(`runs/${encodeURIComponent(runId)}`, o, undefined, runView);
  }

  /** Asks the server to cancel a run; answers the run as it is now. */
  cancelRun(runId: string, o: CallOptions): Promise<RunView> {
    return this.call(
      `runs/${encodeURIComponent(runId)}/cancel`,
      { ...o, method: 'POST' },
      undefined,
      runView,
    );
  }

  /** Runs, newest first: a page of at most `q.limit`, below run number `q.before`, filtered. */
  listRuns(q: ListRunsQuery, o: CallOptions): Promise<RunView[]> {
    return this.call(`runs${queryString(q)}`, o, undefined, runView.array());
  }

  /** Queues a run again (all of it, or with `failedOnly` what failed and what depends on it); the new run. */
  rerun(runId: string, body: z.input<typeof rerunRequest>, o: CallOptions): Promise<RunView> {
    const path = `runs/${encodeURIComponent(runId)}/rerun`;
    return this.call(path, o, { schema: rerunRequest, body }, runView);
  }

  /** Every queued job with why it waits (one pool's with `pool`), and jobs nothing could serve. */
  queue(pool: string | undefined, o: CallOptions) {
    return this.call(`queue${queryString({ pool })}`, o, undefined, queueView);
  }

  /** The fleets serving a pool (every pool's when undefined), with their containers and scale events. */
  listFleets(pool: string | undefined, o: CallOptions) {
    return this.call(`fleets${queryString({ pool })}`, o, undefined, fleetView.array());
  }

  /** One page of the run's feed after `after`, held up to `waitMs` when there is no news. */
  runEvents(runId: string, q: { after: number; waitMs: number }, o: CallOptions) {
    const path = `runs/${encodeURIComponent(runId)}/events?after=${q.after}&waitMs=${q.waitMs}`;
    return this.call(path, o, undefined, runEventsResponse);
  }

  /**
   * One page of the run's raw feed after `after` (see `feedFrame`): its events as they arrive,
   * log text as sent (never inside JSON), then where to go on. The server ends a page within
   * `FEED_STREAM_WAIT_MS` of no news; the caller asks again from `next` until `done`.
   */
  async *runFeed(runId: string, after: number, o: CallOptions): AsyncGenerator<FeedItem> {
    const res = await this.fetch(`runs/${encodeURIComponent(runId)}/stream?after=${after}`, {
      ...o,
      timeoutMs: o.timeoutMs ?? 120_000,
    });
    if (!res.ok || !res.body) {
      const text = await res.text();
      throw errorFromAnswer(res.status, text ? safeJson(text) : undefined, text || res.statusText);
    }
    const reader = new FeedFrameReader();
    let ended = false;
    try {
      for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) {
        for (const item of reader.push(piece)) {
          if ('next' in item) ended = true;
          yield item;
        }
      }
    } catch (err) {
      if (o.signal?.aborted) throw err;
      throw new ConnectionError(`the feed from ${this.baseUrl} was cut: ${describeFetchError(err)}`, {
        cause: err,
      });
    }
    if (!ended) throw new ConnectionError(`the feed from ${this.baseUrl} ended before its last frame`);
  }

  /**
   * A job's log as text, streamed in pieces as the server sends them: its current attempt's
   * unless `q.attempt`, every step's unless `q.step` (-1: the job's setup and teardown lines).
   */
  async *jobLog(
    jobId: string,
    q: { attempt?: number; step?: number },
    o: CallOptions,
  ): AsyncGenerator<string> {
    const res = await this.fetch(`jobs/${encodeURIComponent(jobId)}/log${queryString(q)}`, {
      ...o,
      timeoutMs: o.timeoutMs ?? 600_000,
    });
    if (!res.ok) {
      const text = await res.text();
      throw errorFromAnswer(res.status, text ? safeJson(text) : undefined, text || res.statusText);
    }
    if (!res.body) return;
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      const text = decoder.decode(chunk, { stream: true });
      if (text) yield text;
    }
    const tail = decoder.decode();
    if (tail) yield tail;
  }

  runArtifacts(runId: string, o: CallOptions) {
    return this.call(`runs/${encodeURIComponent(runId)}/artifacts`, o, undefined, artifactView.array());
  }

  /** An artifact of a run, as the gzipped tar it was published as. */
  async runArtifact(runId: string, name: string, o: CallOptions): Promise<Buffer> {
    const res = await this.fetch(
      `runs/${encodeURIComponent(runId)}/artifacts/${encodeURIComponent(name)}`,
      o,
    );
    if (!res.ok) {
      const text = await res.text();
      throw errorFromAnswer(res.status, text ? safeJson(text) : undefined, text || res.statusText);
    }
    return Buffer.from(await res.arrayBuffer());
  }

  // ── repositories ─────────────────────────────────────────────────────────────────
  addRepository(body: z.input<typeof addRepositoryRequest>, o: CallOptions) {
    return this.call('repositories', o, { schema: addRepositoryRequest, body }, addRepositoryResponse);
  }

  listRepositories(o: CallOptions): Promise<RepositoryView[]> {
    return this.call('repositories', o, undefined, repositoryView.array());
  }

  async removeRepository(name: string, o: CallOptions): Promise<void> {
    await this.call(`repositories/${encodeURIComponent(name)}`, { ...o, method: 'DELETE' });
  }

  repositoryErrors(name: string, o: CallOptions) {
    return this.call(
      `repositories/${encodeURIComponent(name)}/errors`,
      o,
      undefined,
      repositoryErrorView.array(),
    );
  }

  /** Queues a run of the repository's branch or commit (`slipway run --repo`). */
  runRepository(name: string, body: z.input<typeof repositoryRunRequest>, o: CallOptions): Promise<RunView> {
    return this.call(
      `repositories/${encodeURIComponent(name)}/runs`,
      o,
      { schema: repositoryRunRequest, body },
      runView,
    );
  }

  // ── admin and fleets ───────────────────────────────────────────────────────────
  createToken(body: z.input<typeof createTokenRequest>, o: CallOptions) {
    return this.call('tokens', o, { schema: createTokenRequest, body }, createTokenResponse);
  }

  createPool(body: z.input<typeof createPoolRequest>, o: CallOptions): Promise<PoolView> {
    return this.call('pools', o, { schema: createPoolRequest, body }, poolView);
  }

  /** Changes the settings given; the pool's other settings stay. */
  updatePool(name: string, body: z.input<typeof updatePoolRequest>, o: CallOptions): Promise<PoolView> {
    return this.call(
      `pools/${encodeURIComponent(name)}`,
      { ...o, method: 'PATCH' },
      { schema: updatePoolRequest, body },
      poolView,
    );
  }

  listPools(o: CallOptions): Promise<PoolView[]> {
    return this.call('pools', o, undefined, poolView.array());
  }

  /** The agents of one pool (all pools when `pool` is undefined). */
  listAgents(pool: string | undefined, o: CallOptions): Promise<AgentView[]> {
    const path = pool === undefined ? 'agents' : `agents?pool=${encodeURIComponent(pool)}`;
    return this.call(path, o, undefined, agentView.array());
  }

  // ── variable groups ────────────────────────────────────────────────────────────
  createVariableGroup(body: z.input<typeof createVariableGroupRequest>, o: CallOptions) {
    return this.call('groups', o, { schema: createVariableGroupRequest, body }, variableGroupView);
  }

  listVariableGroups(o: CallOptions) {
    return this.call('groups', o, undefined, variableGroupView.array());
  }

  getVariableGroup(name: string, o: CallOptions) {
    return this.call(`groups/${encodeURIComponent(name)}`, o, undefined, variableGroupView);
  }

  updateVariableGroup(name: string, body: z.input<typeof updateVariableGroupRequest>, o: CallOptions) {
    return this.call(
      `groups/${encodeURIComponent(name)}`,
      { ...o, method: 'PATCH' },
      { schema: updateVariableGroupRequest, body },
      variableGroupView,
    );
  }

  async deleteVariableGroup(name: string, o: CallOptions): Promise<void> {
    await this.call(`groups/${encodeURIComponent(name)}`, { ...o, method: 'DELETE' });
  }

  async removeAgent(pool: string, name: string, o: CallOptions): Promise<void> {
    await this.call(poolPath(pool, `/agents/${encodeURIComponent(name)}`), { ...o, method: 'DELETE' });
  }

  /** Stops the agent taking work; `busy` when it runs a job (which then goes on). */
  drainAgent(pool: string, name: string, o: CallOptions) {
    const path = poolPath(pool, `/agents/${encodeURIComponent(name)}/drain`);
    return this.call(path, { ...o, method: 'POST' }, undefined, drainAgentResponse);
  }

  createTicket(pool: string, body: z.input<typeof createTicketRequest>, o: CallOptions) {
    const path = poolPath(pool, '/tickets');
    return this.call(path, o, { schema: createTicketRequest, body }, createTicketResponse);
  }

  /** Long-polls: answers at once when jobs are queued, else when one is or `waitMs` passes. */
  poolDemand(pool: string, waitMs: number, o: CallOptions): Promise<PoolDemand> {
    return this.call(poolPath(pool, `/demand?waitMs=${waitMs}`), o, undefined, poolDemandResponse);
  }

  async fleetHeartbeat(pool: string, body: z.input<typeof fleetHeartbeatRequest>, o: CallOptions) {
    await this.call(
      poolPath(pool, '/fleet'),
      { ...o, method: 'PUT' },
      { schema: fleetHeartbeatRequest, body },
    );
  }

  async failJob(pool: string, jobId: string, body: z.input<typeof failJobRequest>, o: CallOptions) {
    const path = poolPath(pool, `/jobs/${encodeURIComponent(jobId)}/fail`);
    await this.call(path, o, { schema: failJobRequest, body });
  }

  async fetch(path: string, o: RequestOptions = {}): Promise<Response> {
    const { method, headers, body, signal } = this.prepare(o);
    const url = `${this.origin}${this.pathOf(path)}`;
    const init = {
      method,
      headers,
      // A stream goes out as it is read (fetch takes an async iterable with `duplex: 'half'`).
      body: body as string | Buffer | undefined,
      ...(body instanceof Readable ? { duplex: 'half' as const } : {}),
      signal,
    };
    try {
      if (this.socketPath) {
        this.unixFetch ??= createUnixFetch(this.socketPath);
        return await this.unixFetch(url, { ...init, body });
      }
      return await fetch(url, init);
    } catch (err) {
      throw this.unreachable(err, o);
    }
  }

  /** The method, headers, body and abort signal of a request, whichever transport sends it. */
  private prepare(o: RequestOptions) {
    const headers: Record<string, string> = {};
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    let body: string | Buffer | Readable | undefined;
    if (o.raw) {
      headers['content-type'] = o.contentType ?? 'application/octet-stream';
      body = o.raw;
    } else if (o.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(o.body);
    }
    const signals = [AbortSignal.timeout(o.timeoutMs ?? 30_000), ...(o.signal ? [o.signal] : [])];
    const method = o.method ?? (body === undefined ? 'GET' : 'POST');
    return { method, headers, body, signal: AbortSignal.any(signals) };
  }

  private pathOf(path: string): string {
    return path.startsWith('/') ? path : `${API_PREFIX}/${path}`;
  }

  /** The caller's own abort as it is; anything else means the server could not be reached. */
  private unreachable(err: unknown, o: RequestOptions): unknown {
    if (o.signal?.aborted) return err;
    return new ConnectionError(`cannot reach ${this.baseUrl}: ${describeFetchError(err)}`, { cause: err });
  }
}

/** What `new ApiClient(url, options)` takes. */
export interface ApiClientOptions {
  /**
   * How calls that read a whole answer are sent: `fetch` (the default), or `node-http` for a
   * short-lived process, which then never loads fetch's undici for them (the CLI: a good part
   * of its start). Streamed answers (logs, caches, artifacts) and https:// use fetch either way.
   */
  transport?: 'fetch' | 'node-http';
}

/** Host, port and path prefix of an http:// base URL; undefined for any other (or no valid) URL. */
function httpTarget(base: string): { target: HttpTarget; prefix: string } | undefined {
  if (!URL.canParse(base)) return undefined;
  const url = new URL(base);
  if (url.protocol !== 'http:' || url.username || url.password) return undefined;
  // `[::1]` as URL spells it; node:http wants the bare address.
  const target = { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(url.port || 80) };
  if (FETCH_BAD_PORTS.has(target.port)) return undefined;
  return { target, prefix: url.pathname.replace(/\/+$/, '') };
}

async function readWhole(res: Response): Promise<PlainAnswer> {
  return { status: res.status, statusText: res.statusText, text: await res.text() };
}

/** `?a=1&b=x` of the defined values; empty when there are none. */
function queryString(q: Record<string, string | number | boolean | undefined>): string {
  const pairs = Object.entries(q).flatMap(([k, v]) =>
    v === undefined ? [] : [`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`],
  );
  return pairs.length === 0 ? '' : `?${pairs.join('&')}`;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function describeFetchError(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  // fetch puts the system error in `cause`; node:http throws it itself (`code: 'ECONNREFUSED'`).
  const own = (err as { code?: unknown }).code;
  return cause?.code ?? cause?.message ?? (typeof own === 'string' ? own : (err as Error).message);
}

/** Worth retrying: the server was unreachable, overloaded or restarting. */
export function isTransient(err: unknown): boolean {
  if (err instanceof ConnectionError) return true;
  const status = answeredStatus(err);
  return status !== undefined && (status >= 500 || status === 429);
}

/**
 * Retries `fn` on transient errors with exponential backoff and full jitter, so a fleet of
 * agents does not reconnect to a restarted server in one wave. Gives up after `deadlineMs`.
 */
export async function withRetry<T>(
  fn: () => Promise<T>,
  o: {
    deadlineMs: number;
    signal?: AbortSignal;
    baseMs?: number;
    maxMs?: number;
    onRetry?: (err: unknown, attempt: number) => void;
  },
): Promise<T> {
  const until = Date.now() + o.deadlineMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isTransient(err) || Date.now() >= until || o.signal?.aborted) throw err;
      o.onRetry?.(err, attempt);
      const cap = Math.min(o.maxMs ?? 5_000, (o.baseMs ?? 200) * 2 ** Math.min(attempt, 10));
      await sleep(Math.min(Math.random() * cap, Math.max(0, until - Date.now())), o.signal);
    }
  }
}
