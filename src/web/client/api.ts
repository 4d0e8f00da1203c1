import type { RunEvent, RunView } from '../../protocol/schemas.js';

/** The header that marks the UI's own state-changing requests (the server refuses them without). */
const CSRF_HEADER = 'x-slipway-request';

/** No session (or it ended): the page shows the sign-in form. */
export class SignedOut extends Error {}

/** The server refused the request; `message` is its own words. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'DELETE';
  body?: unknown;
  signal?: AbortSignal;
}

/**
 * A call to the API under `/api/v1/`. The browser sends the session cookie by itself; the page
 * never holds a token.
 */
export async function api<T>(path: string, o: RequestOptions = {}): Promise<T> {
  const method = o.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET') headers[CSRF_HEADER] = '1';
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`/api/v1/${path}`, {
    method,
    headers,
    credentials: 'same-origin',
    body: o.body === undefined ? undefined : JSON.stringify(o.body),
    signal: o.signal,
  });
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
    if (res.status === 401) throw new SignedOut(error?.message ?? 'signed out');
    throw new ApiError(
      res.status,
      error?.code ?? 'error',
      error?.message ?? `${res.status} ${res.statusText}`,
    );
  }
  return body as T;
}

export interface Session {
  scopes: string[];
  expiresAt: string | null;
}

export const signIn = (token: string) => api<Session>('session', { method: 'POST', body: { token } });
export const signOut = () => api<void>('session', { method: 'DELETE' });
export const currentSession = () => api<Session>('session');

export interface RunFeedPage {
  events: RunEvent[];
  next: number;
  done: boolean;
}

export const getRun = (id: string | number, signal?: AbortSignal) =>
  api<RunView>(`runs/${encodeURIComponent(String(id))}`, { signal });

export const runFeed = (id: string, after: number, waitMs: number, signal?: AbortSignal) =>
  api<RunFeedPage>(`runs/${encodeURIComponent(id)}/events?after=${after}&waitMs=${waitMs}`, { signal });

/**
 * Follows a run's feed from `after` until it is done or `signal` aborts: each page goes to
 * `onPage` as it arrives. Errors other than an abort back off and retry.
 */
export async function followFeed(
  runId: string,
  onPage: (page: RunFeedPage) => void,
  signal: AbortSignal,
  after = 0,
): Promise<void> {
  let next = after;
  let failures = 0;
  while (!signal.aborted) {
    try {
      const page = await runFeed(runId, next, 25_000, signal);
      failures = 0;
      next = page.next;
      onPage(page);
      if (page.done) return;
    } catch (err) {
      if (signal.aborted || err instanceof SignedOut) return;
      failures++;
      await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * 2 ** failures)));
    }
  }
}
