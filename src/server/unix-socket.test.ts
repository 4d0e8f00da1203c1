import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ApiClient } from '../protocol/client.js';
import { AuthError } from '../shared/errors.js';
import { silentLogger } from '../shared/logger.js';
import { startServer } from './server.js';

it('serves the same API on a Unix socket, still behind tokens', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-sock-'));
  const socketPath = join(dir, 'agent.sock');
  const server = await startServer({
    config: { port: 0, dataDir: dir, logLevel: 'silent', socketPath },
    logger: silentLogger,
  });
  try {
    const client = new ApiClient(`unix://${socketPath}`);
    expect((await client.request('/healthz')).body).toEqual({ ok: true });
    await expect(client.request('pools')).rejects.toThrow(AuthError);
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
