import { afterAll, expect, it } from 'vitest';
import { finishRun, queueRun } from '../fleet/fleet-test-support.js';
import { useTestFleets } from '../test-support/fleets.js';
import { killAll } from '../test-support/harness.js';

const fleets = useTestFleets();
afterAll(killAll);

/** FROM scratch with the job image's static busybox: no registry is reachable here to pull a base from. */
const PIPELINE = `jobs:
- job: image
  docker: dind
  steps:
  - bash: |
      set -e
      mkdir -p ctx && cp /usr/bin/busybox ctx/
      printf 'FROM scratch\\nCOPY busybox /bin/busybox\\nARG NOTE=none\\nENV NOTE=$NOTE\\nCMD ["/bin/busybox", "sh", "-c", "echo ran the image, note $NOTE"]\\n' > ctx/Dockerfile
  - task: Docker@2
    inputs:
      command: build
      repository: Slipway-Test/App
      Dockerfile: ctx/Dockerfile
      arguments: --build-arg "NOTE=from arguments"
      tags: |
        v1
        latest
  - bash: |
      docker run --rm slipway-test/app:v1
      docker images --format '{{.Repository}}:{{.Tag}}' | sort | sed 's/^/image: /'
  - task: Docker@2
    displayName: push to an unmapped registry
    continueOnError: true
    inputs: { command: buildAndPush, containerRegistry: myRegistry, repository: app, Dockerfile: ctx/Dockerfile }
  - task: Docker@2
    displayName: login without a registry
    continueOnError: true
    inputs: { command: login }
  - task: Docker@2
    displayName: no Dockerfile
    continueOnError: true
    inputs: { command: build, repository: app, Dockerfile: nowhere/Dockerfile }
`;

it("Docker@2 builds and tags an image in the job's own engine (docker: dind) and refuses a registry that is not mapped by variables", async () => {
  const t = await fleets.start({ minIdle: 0, max: 1 });
  await t.client.request('pools/default', {
    method: 'PATCH',
    token: t.adminToken,
    body: { settings: { allowDind: true } },
  });
  const { run, log } = await finishRun(
    t.client,
    t.adminToken,
    (await queueRun(t.client, t.adminToken, PIPELINE, { secrets: {} })).id,
    150_000,
  );
  expect(
    run.jobs.map((j) => [j.name, j.result]),
    log,
  ).toEqual([['image', 'succeededWithIssues']]);
  // The arguments reach docker build as Azure splits them: the quoted build argument is one.
  expect(log).toContain('ran the image, note from arguments');
  expect(log).toContain('image: slipway-test/app:latest');
  expect(log).toContain('image: slipway-test/app:v1');
  expect(log).toContain(
    "containerRegistry refused: Slipway has no service connections; containerRegistry 'myRegistry' is mapped by the variables myRegistry.registry (the registry's address, such as registry.example:5000), myRegistry.username (the user to log in as), myRegistry.password (secret: its password or token)",
  );
  expect(log).toContain("command 'login' needs the input 'containerRegistry'");
  expect(log).toContain('no Dockerfile matches nowhere/Dockerfile');
}, 240_000);
