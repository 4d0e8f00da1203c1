import { mkdtemp, readdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitError, GitRunner } from './git.js';

// A fake git HTTP server that demands Basic credentials and records what git sends: the
// credential reaches git through askpass (its environment), never its command line.
describe('GitRunner credentials', () => {
  const seen: (string | undefined)[] = [];
  let url = '';
  const fakeGitServer = createServer((req, res) => {
    seen.push(req.headers.authorization);
    if (!req.headers.authorization) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="git"' }).end();
      return;
    }
    res.writeHead(403).end('denied for tok-1234567890');
  });
  beforeAll(async () => {
    await new Promise<void>((r) => fakeGitServer.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(fakeGitServer.address() as { port: number }).port}/acme/app.git`;
  });
  afterAll(() => new Promise<void>((r) => fakeGitServer.close(() => r())));

  it('answers the forge’s challenge with the token through askpass, and masks it in errors', async () => {
    const stateDir = join(await mkdtemp(join(tmpdir(), 'slipway-git-')), 'state');
    const git = new GitRunner({ stateDir });
    const failed = git.run(['ls-remote', url], {
      credential: { kind: 'token', username: 'x-access-token', token: 'tok-1234567890' },
    });
    await expect(failed).rejects.toThrow(GitError);
    const error = (await failed.catch((e: Error) => e)) as Error;
    expect(error.message).not.toContain('tok-1234567890');
    const basic = seen.find((h) => h?.startsWith('Basic '));
    expect(Buffer.from(basic!.slice(6), 'base64').toString()).toBe('x-access-token:tok-1234567890');
    // Nothing of the credential is left behind for the next call.
    expect(await readdir(stateDir)).toEqual(['askpass.sh']);
  });

  it('without a credential git fails at once instead of prompting', async () => {
    const git = new GitRunner({ stateDir: join(await mkdtemp(join(tmpdir(), 'slipway-git-')), 'state') });
    await expect(git.run(['ls-remote', url])).rejects.toThrow(GitError);
  });
});
