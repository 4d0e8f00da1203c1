import { createServer, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postStatus, type StatusApi, statusApiFromUrl, statusRequest } from './forge-status.js';

const SHA = 'a'.repeat(40);

describe('commit status requests per forge', () => {
  it.each([
    [
      'github',
      'https://api.github.com/repos/o/r/statuses/',
      { state: 'failure', context: 'slipway' },
      'authorization',
      'Bearer t0k',
    ],
    [
      'gitlab',
      'https://gl.example/api/v4/projects/group%2Fsub%2Fr/statuses/',
      { state: 'failed', name: 'slipway' },
      'private-token',
      't0k',
    ],
    [
      'gitea',
      'https://gt.example/api/v1/repos/o/r/statuses/',
      { state: 'failure', context: 'slipway' },
      'authorization',
      'token t0k',
    ],
  ] as const)('%s', (forge, url, body, authHeader, authValue) => {
    const api: StatusApi = {
      forge,
      apiUrl:
        forge === 'github'
          ? 'https://api.github.com'
          : forge === 'gitlab'
            ? 'https://gl.example/api/v4/'
            : 'https://gt.example/api/v1',
      project: forge === 'gitlab' ? 'group/sub/r' : 'o/r',
      token: 't0k',
    };
    const req = statusRequest(api, {
      commit: SHA,
      state: 'failure',
      description: 'Run #3 failed',
      context: 'slipway',
    });
    expect(req.url).toBe(`${url}${SHA}`);
    expect(req.body).toMatchObject(body);
    expect(req.headers[authHeader]).toBe(authValue);
  });

  it('a canceled run is an error on GitHub and Gitea, canceled on GitLab', () => {
    const s = { commit: SHA, state: 'canceled' as const, description: '', context: 'c' };
    expect(statusRequest({ forge: 'github', apiUrl: 'x', project: 'o/r', token: 't' }, s).body.state).toBe(
      'error',
    );
    expect(statusRequest({ forge: 'gitlab', apiUrl: 'x', project: 'o/r', token: 't' }, s).body.state).toBe(
      'canceled',
    );
  });

  it('the API is known from github.com and gitlab.com URLs, and from any host with the forge named', () => {
    expect(statusApiFromUrl('https://github.com/o/r.git')).toEqual({
      forge: 'github',
      apiUrl: 'https://api.github.com',
      project: 'o/r',
    });
    expect(statusApiFromUrl('https://gitlab.com/g/s/r.git')).toEqual({
      forge: 'gitlab',
      apiUrl: 'https://gitlab.com/api/v4',
      project: 'g/s/r',
    });
    expect(statusApiFromUrl('https://git.example/o/r', 'gitea')).toEqual({
      forge: 'gitea',
      apiUrl: 'https://git.example/api/v1',
      project: 'o/r',
    });
    expect(statusApiFromUrl('https://git.example/o/r')).toBeUndefined();
  });
});

describe('postStatus against a fake forge server (the GitHub REST path)', () => {
  const seen: { method?: string; url?: string; auth?: string; body: unknown }[] = [];
  let url = '';
  const fakeForge = createServer((req: IncomingMessage, res) => {
    let text = '';
    req.on('data', (d) => (text += d));
    req.on('end', () => {
      seen.push({
        method: req.method,
        url: req.url,
        auth: req.headers.authorization,
        body: JSON.parse(text),
      });
      const refused = req.headers.authorization !== 'Bearer good';
      res.writeHead(refused ? 401 : 201, { 'content-type': 'application/json' });
      res.end(refused ? '{"message":"Bad credentials"}' : '{}');
    });
  });
  beforeAll(async () => {
    await new Promise<void>((r) => fakeForge.listen(0, '127.0.0.1', r));
    const addr = fakeForge.address();
    url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  });
  afterAll(() => new Promise<void>((r) => fakeForge.close(() => r())));

  it('posts the status; a refusal is an error without the token', async () => {
    await postStatus(
      { forge: 'github', apiUrl: url, project: 'o/r', token: 'good' },
      {
        commit: SHA,
        state: 'success',
        description: 'Run #1 succeeded',
        context: 'slipway/app',
        targetUrl: 'http://ci/runs/1',
      },
    );
    expect(seen[0]).toEqual({
      method: 'POST',
      url: `/repos/o/r/statuses/${SHA}`,
      auth: 'Bearer good',
      body: {
        state: 'success',
        description: 'Run #1 succeeded',
        context: 'slipway/app',
        target_url: 'http://ci/runs/1',
      },
    });
    const refused = postStatus(
      { forge: 'github', apiUrl: url, project: 'o/r', token: 'bad-token-value' },
      {
        commit: SHA,
        state: 'pending',
        description: '',
        context: 'c',
      },
    );
    await expect(refused).rejects.toThrow(/401.*Bad credentials/);
    await expect(refused).rejects.not.toThrow(/bad-token-value/);
  });
});
