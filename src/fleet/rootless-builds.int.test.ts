import { afterAll, describe, expect, it } from 'vitest';
import { BUILDAH_IMAGE } from '../images/index.js';
import type { ApiClient } from '../protocol/client.js';
import { useTestFleets } from '../test-support/fleets.js';
import { killAll, spawnCli } from '../test-support/harness.js';
import type { UnitEvent } from './fleet-manager.js';
import { runPipeline } from './fleet-test-support.js';

const fleets = useTestFleets();
const { docker } = fleets;
afterAll(killAll);

const allow = async (client: ApiClient, token: string, settings: Record<string, unknown>) =>
  client.request('pools/default', { method: 'PATCH', token, body: { settings } });

/** Builds an image with buildah (a RUN step included) and saves it as an archive; no engine anywhere. */
const buildWithBuildah = (tag: string) => `jobs:
- job: image
  container: ${BUILDAH_IMAGE}
  docker: rootless
  steps:
  - script: |
      set -e
      mkdir ctx && cp /usr/bin/busybox ctx/
      printf 'FROM scratch\\nCOPY busybox /bin/busybox\\nRUN ["/bin/busybox", "sh", "-c", "echo made by RUN > /made"]\\nCMD ["/bin/busybox", "cat", "/made"]\\n' > ctx/Dockerfile
      buildah bud -q -t ${tag} ctx
      buildah images --format '{{.Name}}:{{.Tag}}'
      ctr=$(buildah from ${tag})
      echo "inside the image: $(cat "$(buildah mount $ctr)/made")"
      buildah push -q ${tag} docker-archive:image.tar
      echo "archive: $(du -k image.tar | cut -f1) KiB"
      echo "DOCKER_HOST=\${DOCKER_HOST:-unset}; socket: $(ls /var/run/docker.sock 2>/dev/null || echo none)"
`;

describe('docker: rootless (buildah in the job container)', () => {
  it('builds an image with a RUN step without any engine, and the host engine never sees it', async () => {
    const t = await fleets.start({ minIdle: 0, max: 2 });
    await allow(t.client, t.adminToken, { allowRootlessBuilds: true });
    const tag = `localhost/slipway-test-rootless:${t.runId}`;
    const { run, log } = await runPipeline(t.client, t.adminToken, buildWithBuildah(tag));
    expect(run.result, log).toBe('succeeded');
    expect(log).toContain(tag);
    expect(log).toContain('inside the image: made by RUN');
    expect(log).toMatch(/archive: [1-9]\d* KiB/);
    expect(log).toContain('DOCKER_HOST=unset; socket: none');
    expect(log).toContain('docker: rootless');
    await expect(docker.getImage(tag).inspect()).rejects.toMatchObject({ statusCode: 404 });
  }, 180_000);

  it('a pool without the policy refuses the job before any container starts, naming the flag', async () => {
    const t = await fleets.start({ minIdle: 0, max: 2 });
    const started: UnitEvent[] = [];
    t.fleet.on('unitStarted', (u) => started.push(u));
    const refused = await runPipeline(t.client, t.adminToken, buildWithBuildah('localhost/x:1'));
    expect(refused.run.result).toBe('failed');
    expect(JSON.stringify(refused.run.jobs)).toContain(
      "allow it with 'slipway pool update default --allow-rootless-builds'",
    );
    expect(started).toEqual([]);
  }, 120_000);

  it('without the builder rights the same build fails: the rights are what the policy grants', async () => {
    // The same image and steps in a job without `docker: rootless` (usual confinement).
    const t = await fleets.start({ minIdle: 0, max: 2 });
    const plain = buildWithBuildah('localhost/y:1').replace('  docker: rootless\n', '');
    const { run, log } = await runPipeline(t.client, t.adminToken, plain);
    expect(run.result).toBe('failed');
    expect(log).toMatch(/unshare|uid_map|Operation not permitted|operation not permitted/);
  }, 120_000);
});

describe('examples/buildah', () => {
  it('builds the example image through slipway run and publishes it as an archive artifact', async () => {
    const t = await fleets.start({ minIdle: 0, max: 2 });
    await allow(t.client, t.adminToken, { allowRootlessBuilds: true });
    const env = { SLIPWAY_URL: t.server.url, SLIPWAY_TOKEN: t.adminToken };
    const cli = spawnCli(['run', 'examples/buildah/azure-pipelines.yml', '--dir', 'examples/buildah'], env);
    expect(await cli.exited, cli.output()).toBe(0);
    const number = /Run #(\d+)/.exec(cli.output())?.[1];
    const artifacts = await t.client.runArtifacts(number!, { token: t.adminToken });
    expect(artifacts.map((a) => a.name)).toEqual(['image']);
    expect(artifacts[0]!.size).toBeGreaterThan(100_000);
  }, 180_000);
});
