import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, it } from 'vitest';
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
import {
  ApiClient,
  answerDetail,
  answeredStatus,
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
