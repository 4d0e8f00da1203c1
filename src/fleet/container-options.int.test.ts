import type Docker from 'dockerode';
import { afterAll, expect, it } from 'vitest';
import { BASE_IMAGE } from '../images/index.js';
import { useTestFleets } from '../test-support/fleets.js';
import { finishRun, importBusyboxOnlyImage, queueRun, waitFor } from './fleet-test-support.js';
import { LABEL } from './labels.js';

const fleets = useTestFleets();
const images: string[] = [];

afterAll(async () => {
  for (const id of images)
    await fleets.docker
      .getImage(id)
      .remove({ force: true })
      .catch(() => undefined);
});

it("honours a container's and a service's options in a real Docker run", async () => {
  const { client, adminToken, runId } = await fleets.start({ minIdle: 0 });
  const tiny = await importBusyboxOnlyImage(
    fleets.docker,
    { repo: 'slipway-test/busybox-only', tag: runId },
    { 'slipway.test': runId },
  );
  images.push(tiny);
  const run = await queueRun(
    client,
    adminToken,
    `variables: { mode: from-a-variable }
jobs:
- job: opts
  container:
    image: ${BASE_IMAGE}
    env: { FIRST: env }
    options: --hostname build-box -e FROM_OPTIONS=$(mode) --env FIRST=options --ulimit nofile=2345 --shm-size=96m
  services:
    echo:
      image: ${tiny}
      options: --shm-size 32m --memory 64m
  steps:
  - bash: |
      echo "hostname: $(hostname)"
      echo "env: $FROM_OPTIONS / $FIRST"
      echo "nofile: $(ulimit -Hn)"
      echo "shm: $(df -k /dev/shm | tail -n 1 | awk '{print $2}')k"
      echo "service says: $(busybox nc echo 8080 </dev/null)"
      sleep 2
`,
  );
  // The service as the engine made it, looked at while the job runs.
  const service = await waitFor(async () => {
    const [found] = await fleets.docker.listContainers({
      all: true,
      filters: { label: [`slipway.test=${runId}`, `${LABEL.role}=service`] },
    });
    // A unit whose start is retried goes, with its service, between the listing and the look.
    return (
      found &&
      ((await fleets.docker
        .getContainer(found.Id)
        .inspect()
        .catch(() => undefined)) as Docker.ContainerInspectInfo | undefined)
    );
  }, 'the service container');
  const { run: done, log } = await finishRun(client, adminToken, run.id);
  expect(log).toContain('hostname: build-box');
  expect(log).toContain('env: from-a-variable / options');
  expect(log).toContain('nofile: 2345');
  expect(log).toContain(`shm: ${96 * 1024}k`);
  expect(log).toContain('service says: hi');
  expect(service.HostConfig).toMatchObject({ ShmSize: 32 * 1024 ** 2, Memory: 64 * 1024 ** 2 });
  expect(done.result).toBe('succeeded');
}, 120_000);

it('refuses options that widen privileges before anything starts', async () => {
  const { client, adminToken } = await fleets.start({ minIdle: 0 });
  const refused = await client
    .request('runs', {
      token: adminToken,
      body: {
        pipeline: {
          file: 'azure-pipelines.yml',
          content: `container:\n  image: ${BASE_IMAGE}\n  options: --privileged --shm-size 1g\nsteps:\n- script: echo never\n`,
        },
        secrets: {},
      },
    })
    .then(
      () => 'queued',
      (err: Error) => err.message,
    );
  expect(refused).toContain(
    "azure-pipelines.yml:3:12: options: option '--privileged' is not allowed: it gives the container every right on the host",
  );
});
