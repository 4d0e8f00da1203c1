import type { Agent as UndiciAgent } from 'undici';
import { sleep } from '../shared/clock.js';
import { SlipwayError } from '../shared/errors.js';
import { API_PREFIX } from './schemas.js';

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

export interface RequestOptions {
  method?: string;
  body?: unknown;
  /** Raw body (e.g. an archive) sent as application/octet-stream. */
  raw?: Buffer;
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
  private socket?: Promise<{ agent: UndiciAgent; fetch: typeof import('undici').fetch }>;

  constructor(readonly baseUrl: string) {
    const unix = /^unix:\/\/(\/.+)$/.exec(baseUrl);
    this.socketPath = unix?.[1];
    this.origin = unix ? 'http://localhost' : baseUrl.replace(/\/+$/, '');
  }

  /** undici is loaded only for Unix sockets: the CLI's common path does not pay for it. */
  private unixSocket() {
    this.socket ??= import('undici').then((u) => ({
      agent: new u.Agent({ connect: { socketPath: this.socketPath! } }),
      fetch: u.fetch,
    }));
    return this.socket;
  }

  async request<T>(path: string, o: RequestOptions = {}): Promise<{ status: number; body: T }> {
    const res = await this.fetch(path, o);
    const text = await res.text();
    const body = text ? safeJson(text) : undefined;
    if (!res.ok) {
      const err = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new HttpError(
        res.status,
        err?.code ?? 'error',
        err?.message ?? (text.slice(0, 200) || res.statusText),
      );
    }
    return { status: res.status, body: body as T };
  }

  async fetch(path: string, o: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = {};
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    let body: string | Buffer | undefined;
    if (o.raw) {
      headers['content-type'] = 'application/octet-stream';
      body = o.raw;
    } else if (o.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(o.body);
    }
    const signals = [AbortSignal.timeout(o.timeoutMs ?? 30_000), ...(o.signal ? [o.signal] : [])];
    const url = `${this.origin}${path.startsWith('/') ? path : `${API_PREFIX}/${path}`}`;
    const init = {
      method: o.method ?? (body === undefined ? 'GET' : 'POST'),
      headers,
      body,
      signal: AbortSignal.any(signals),
    };
    try {
      if (this.socketPath) {
        const unix = await this.unixSocket();
        return (await unix.fetch(url, { ...init, dispatcher: unix.agent })) as unknown as Response;
      }
      return await fetch(url, init);
    } catch (err) {
      if (o.signal?.aborted) throw err;
      throw new ConnectionError(`cannot reach ${this.baseUrl}: ${describeFetchError(err)}`, { cause: err });
    }
  }
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
  return cause?.code ?? cause?.message ?? (err as Error).message;
}

/** Worth retrying: the server was unreachable, overloaded or restarting. */
export function isTransient(err: unknown): boolean {
  if (err instanceof ConnectionError) return true;
  return err instanceof HttpError && (err.status >= 500 || err.status === 429);
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
