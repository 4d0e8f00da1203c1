import { chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { killAll, runCli, spawnCli, startTestServer, type TestServer } from '../test-support/harness.js';

const NOBODY = { uid: 65534, gid: 65534 };

/**
 * A job that hunts for credentials everywhere it can look: its environment, every process's
 * environment and command line, every file it can read, and the API with whatever it found.
 */
const PROBE = String.raw`
pattern='slw_(adm|pat|jit|agt|job)_[A-Za-z0-9_-]{43}'
places='/tmp /var /etc /home /root /run /srv /opt /work'
found=$( { env; cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null | tr '\0' '\n';
  grep -rEaoh --exclude-dir=node_modules --exclude-dir=.git "$pattern" $places 2>/dev/null; } | grep -Eo "$pattern" | sort -u)
echo "credentials found: $(printf '%s' "$found" | grep -c . || true)"
for t in $found; do echo "found in: $(grep -rlaF --exclude-dir=node_modules --exclude-dir=.git "$t" $places 2>/dev/null | head -3)"; done
for t in $found; do
  echo "api with found token: $(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $t" "$SLIPWAY_API_URL/api/v1/runs")"
done
echo "probe done as $(id -u)"
`;

let ts: TestServer;
let home: string;
beforeAll(async () => {
  ts = await startTestServer();
  home = await mkdtemp(join(tmpdir(), 'slipway-probe-'));
});
afterAll(async () => {
  await killAll();
  await ts.stop();
  await rm(home, { recursive: true, force: true });
});

it('a job on a host agent (own user, one-use ticket) finds no admin token, PAT or ticket anywhere', {
  timeout: 180_000,
}, async () => {
  const { ticket } = (
    await ts.client.request<{ ticket: string }>('pools/default/tickets', {
      token: ts.adminToken,
      body: { name: 'probe-1' },
    })
  ).body;
  await chown(home, NOBODY.uid, NOBODY.gid);
  const ticketFile = join(home, 'ticket');
  await writeFile(ticketFile, ticket, { mode: 0o600 });
  await chown(ticketFile, NOBODY.uid, NOBODY.gid);
  const work = join(home, 'work');
  await mkdir(work);
  await chown(work, NOBODY.uid, NOBODY.gid);
  // A PAT exists on the server too: the probe must not find it either.
  await ts.pat();

  const agent = spawnCli(
    ['agent', 'run', '--url', ts.url, '--ticket-file', ticketFile, '--name', 'probe-1', '--work', work],
    { HOME: home, SLIPWAY_LOG_LEVEL: 'info' },
    home,
    NOBODY,
  );
  await agent.waitFor(/"msg":"registered"/);
  const dir = await mkdtemp(join(tmpdir(), 'slipway-ws-'));
  await writeFile(
    join(dir, 'azure-pipelines.yml'),
    `steps:\n- bash: |\n${PROBE.split('\n')
      .map((l) => `    ${l}`)
      .join('\n')}\n`,
  );
  const { code, output } = await runCli(ts, ['--dir', dir]);
  expect(output).toContain(`probe done as ${NOBODY.uid}`);
  expect(output).toContain('credentials found: 0');
  expect(output).not.toContain('api with found token');
  expect(code).toBe(0);
  expect(await agent.exited).toBe(0);
});
