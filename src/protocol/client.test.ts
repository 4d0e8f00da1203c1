import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
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
  PipelineErrors,
  RateLimitError,
  ResultConflictError,
  SessionReplacedError,
  ValidationError,
} from '../shared/errors.js';
import { freePort } from '../test-support/harness.js';
import {
  ApiClient,
  answerDetail,
  answeredStatus,
  ConnectionError,
  errorFromAnswer,
  HttpError,
  isTransient,
} from './client.js';

const answer = (status: number, error: Record<string, unknown>) => errorFromAnswer(status, { error });

it.each([
  [400, 'invalid_request', ValidationError],
  [400, 'invalid_pipeline', PipelineErrors],
  [401, 'unauthorized', AuthError],
  [403, 'forbidden', ForbiddenError],
  [404, 'not_found', NotFoundError],
  [409, 'conflict', ConflictError],
  [409, 'claim_lost', ClaimLostError],
  [409, 'session_replaced', SessionReplacedError],
  [409, 'lease_lost', LeaseLostError],
  [409, 'result_conflict', ResultConflictError],
  [409, 'agent_busy', AgentBusyError],
  [410, 'gone', GoneError],
  [429, 'rate_limited', RateLimitError],
])('turns %i %s back into its error, with the code, the message and the status', (status, code, type) => {
  const message = code === 'invalid_pipeline' ? 'p.yml:3:5: unknown key' : `the server says ${code}`;
  const err = answer(status, { code, message });
  expect(err).toBeInstanceOf(type);
  expect(err.code).toBe(code);
  expect(err.message).toBe(`${status} ${code}: ${message}`);
  expect(answerDetail(err)).toBe(message);
  expect(answeredStatus(err)).toBe(status);
});

it('gives a log gap the stored length to resend from, and the job and epoch to a lost lease', () => {
  const gap = answer(409, { code: 'log_gap', message: 'log offset 20 is past', offset: 20, length: 13 });
  expect(gap).toBeInstanceOf(LogGapError);
  expect(gap).toMatchObject({ offset: 20, length: 13 });
  const lost = answer(409, { code: 'lease_lost', message: 'gone', jobId: 'j1', epoch: 2 });
  expect(lost).toMatchObject({ jobId: 'j1', epoch: 2 });
  expect(answer(409, { code: 'claim_lost', message: 'no', jobId: 'j2' })).toMatchObject({ jobId: 'j2' });
});

it('keeps an HttpError, with status and code, for an unknown code, a gap without its length, or no JSON', () => {
  const unknown = answer(415, { code: 'fst_err_ctp_invalid_media_type', message: 'unsupported' });
  expect(unknown).toBeInstanceOf(HttpError);
  expect(unknown).toMatchObject({
    status: 415,
    code: 'fst_err_ctp_invalid_media_type',
    detail: 'unsupported',
  });
  expect(answer(409, { code: 'log_gap', message: 'gap' })).toBeInstanceOf(HttpError);
  const internal = errorFromAnswer(502, undefined, 'Bad Gateway');
  expect(internal).toMatchObject({ status: 502, code: 'error', detail: 'Bad Gateway' });
  expect(answer(400, { code: 'invalid_pipeline', message: 'not a file:line:col line' })).toBeInstanceOf(
    HttpError,
  );
});

it('retries what a server may answer better later: 5xx and rate limits, not conflicts', () => {
  expect(isTransient(answer(503, { code: 'internal', message: 'x' }))).toBe(true);
  expect(isTransient(answer(429, { code: 'rate_limited', message: 'x' }))).toBe(true);
  expect(isTransient(answer(409, { code: 'lease_lost', message: 'x' }))).toBe(false);
  expect(isTransient(new RateLimitError('local, never answered'))).toBe(false);
});

it('throws the typed error from a call, and checks a request before sending it', async () => {
  let requests = 0;
  const server = createServer((_req, res) => {
    requests++;
    res.statusCode = 409;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ error: { code: 'session_replaced', message: 'replaced by a newer one' } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const client = new ApiClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    await expect(client.poll({ sessionId: 's' }, { token: 't' })).rejects.toThrow(SessionReplacedError);
    expect(requests).toBe(1);
    const bad = client.appendLog('j', { epoch: 1, step: -2, offset: 0, data: '' }, { token: 't' });
    await expect(bad).rejects.toThrow(ValidationError);
    await expect(bad).rejects.toThrow(/^step: /);
    expect(requests).toBe(1);
  } finally {
    await new Promise((r) => server.close(r));
  }
});

it('types the error answer of a download too: a missing artifact is NotFoundError', async () => {
  const server = createServer((_req, res) => {
    res.statusCode = 404;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ error: { code: 'not_found', message: "artifact 'x' not found" } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const client = new ApiClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const err = await client.runArtifact('r1', 'x', { token: 't' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(answerDetail(err)).toBe("artifact 'x' not found");
  } finally {
    await new Promise((r) => server.close(r));
  }
});

afterEach(() => {
  vi.unstubAllGlobals();
});

/** A server on a free loopback port for the length of `fn`. */
async function withServer(handler: RequestListener, fn: (url: string) => Promise<void>): Promise<void> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

it('sends through node:http what fetch sends: method, path, token, JSON body; and reads the answer', async () => {
  const seen: string[] = [];
  let peers = new Set<number>();
  await withServer(
    (req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen.push(
          `${req.method} ${req.url} ${req.headers.authorization} ${req.headers['content-type']} ${body}`,
        );
        peers = new Set([...peers, req.socket.remotePort ?? 0]);
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ id: 'w1', size: 3, wide: 'ünïcødé'.repeat(5000) }));
      });
    },
    async (url) => {
      // Never through fetch: loading it is what this transport saves.
      vi.stubGlobal('fetch', () => Promise.reject(new Error('fetch was used')));
      const client = new ApiClient(url, { transport: 'node-http' });
      const first = await client.request<{ wide: string }>('runs', { token: 't', body: { a: 1 } });
      expect(first).toMatchObject({ status: 200, body: { wide: 'ünïcødé'.repeat(5000) } });
      await expect(client.uploadWorkspace(Buffer.from('tar'), { token: 't' })).resolves.toMatchObject({
        id: 'w1',
        size: 3,
      });
      expect(seen).toEqual([
        'POST /api/v1/runs Bearer t application/json {"a":1}',
        'PUT /api/v1/workspaces Bearer t application/octet-stream tar',
      ]);
      // One connection, kept alive between the calls.
      expect(peers.size).toBe(1);
    },
  );
});

it("keeps the base URL's own path through node:http (a server behind a prefix)", async () => {
  const paths: string[] = [];
  await withServer(
    (req, res) => {
      paths.push(req.url ?? '');
      res.setHeader('content-type', 'application/json');
      res.end('{}');
    },
    async (url) => {
      await new ApiClient(`${url}/ci/`, { transport: 'node-http' }).request('queue', {});
      expect(paths).toEqual(['/ci/api/v1/queue']);
    },
  );
});

it('sends a Host header an IPv6 server reads through node:http ([::1]:port)', async () => {
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ host: req.headers.host }));
  });
  await new Promise<void>((r) => server.listen(0, '::1', r));
  try {
    const port = (server.address() as AddressInfo).port;
    const { body } = await new ApiClient(`http://[::1]:${port}`, { transport: 'node-http' }).request('x', {});
    expect(body).toEqual({ host: `[::1]:${port}` });
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

it('types error answers through node:http, and says which server it could not reach and why', async () => {
  await withServer(
    (_req, res) => {
      res.statusCode = 409;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ error: { code: 'session_replaced', message: 'replaced by a newer one' } }));
    },
    async (url) => {
      const client = new ApiClient(url, { transport: 'node-http' });
      await expect(client.poll({ sessionId: 's' }, { token: 't' })).rejects.toThrow(SessionReplacedError);
    },
  );
  const port = await freePort();
  const refused = new ApiClient(`http://127.0.0.1:${port}`, { transport: 'node-http' });
  const err = await refused.getRun('r1', { token: 't' }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ConnectionError);
  expect((err as Error).message).toBe(`cannot reach http://127.0.0.1:${port}: ECONNREFUSED`);
});

it('stays on fetch for a port fetch refuses, so every call fails the same way at once', async () => {
  const err = await new ApiClient('http://127.0.0.1:6000', { transport: 'node-http' })
    .getRun('r1', { token: 't' })
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ConnectionError);
  expect((err as Error).message).toMatch(/^cannot reach http:\/\/127\.0\.0\.1:6000: .*bad port/);
});

it('gives up on a silent server after the timeout through node:http, and a caller abort stays an abort', async () => {
  await withServer(
    () => undefined, // never answers
    async (url) => {
      const client = new ApiClient(url, { transport: 'node-http' });
      const late = await client.getRun('r1', { token: 't', timeoutMs: 50 }).catch((e: unknown) => e);
      expect(late).toBeInstanceOf(ConnectionError);
      expect((late as Error).message).toMatch(/^cannot reach .*: The operation was aborted due to timeout$/);
      const stop = new AbortController();
      const asked = client.getRun('r1', { token: 't', signal: stop.signal }).catch((e: unknown) => e);
      stop.abort(new Error('the user left'));
      expect(await asked).toMatchObject({ message: 'the user left' });
    },
  );
});

it('reaches a server on a Unix socket through node:http', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'slw-client-'));
  const socket = join(dir, 'api.sock');
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url, host: req.headers.host }));
  });
  await new Promise<void>((r) => server.listen(socket, r));
  try {
    const client = new ApiClient(`unix://${socket}`, { transport: 'node-http' });
    const { body } = await client.request('queue', {});
    expect(body).toEqual({ path: '/api/v1/queue', host: 'localhost' });
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  }
});
