import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';

const run = promisify(execFile);
const launcher = resolve(import.meta.dirname, '../../bin/slipway');
/** Node warns at start when it reads this variable and the file is missing: a visible sign it read it. */
const CA_WARNING = 'Ignoring extra certs';
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slw-launcher-'));
  await writeFile(join(dir, 'azure-pipelines.yml'), "steps:\n- script: 'true'\n");
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** `bin/slipway run` against an unreachable server: its stderr. */
async function runAgainst(url: string): Promise<string> {
  const env = {
    ...process.env,
    SLIPWAY_URL: url,
    SLIPWAY_TOKEN: 'x',
    NODE_EXTRA_CA_CERTS: join(dir, 'none.pem'),
  };
  const failed = await run(launcher, ['run', '--dir', dir], { env }).then(
    () => undefined,
    (e: { code: number; stderr: string }) => e,
  );
  expect(failed?.code).toBe(3); // the server cannot be reached
  return failed?.stderr ?? '';
}

it('starts `slipway run` for an http:// server without reading the extra CA bundle', async () => {
  const stderr = await runAgainst('http://127.0.0.1:9');
  expect(stderr).toContain('cannot reach http://127.0.0.1:9');
  expect(stderr).not.toContain(CA_WARNING);
});

it('keeps the extra CA bundle for an https:// server, which may need it', async () => {
  expect(await runAgainst('https://127.0.0.1:9')).toContain(CA_WARNING);
});
