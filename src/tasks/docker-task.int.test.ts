import { randomBytes } from 'node:crypto';
import { access } from 'node:fs/promises';
import { afterAll, expect, it } from 'vitest';
import { finishRun, queueRun } from '../fleet/fleet-test-support.js';
// The registry service's image is made with the image builder's parts, as fleet tests make theirs.
import { importRootfs } from '../images/docker-import.js';
import { RootfsPlan } from '../images/rootfs.js';
import { useTestFleets } from '../test-support/fleets.js';
import { killAll } from '../test-support/harness.js';

const fleets = useTestFleets();
const { docker } = fleets;
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

/** Debian's docker-registry (distribution 2.8): the machine notes name the package that brings it. */
const REGISTRY_BINARY = '/usr/bin/docker-registry';

/** An image of the host's registry binary and its libraries, serving on :5000 from its own layer. */
async function importRegistryImage(runId: string): Promise<string> {
  const plan = new RootfsPlan({ usrMerge: false });
  await plan.executable(REGISTRY_BINARY, REGISTRY_BINARY);
  plan.dir('/var/lib/registry').dir('/tmp', { mode: 0o1777 });
  plan.content(
    '/etc/docker/registry/config.yml',
    'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\nhttp:\n  addr: 0.0.0.0:5000\n',
  );
  const target = { repo: 'slipway-test/registry', tag: runId };
  await importRootfs(docker, plan.tar(), {
    ...target,
    config: {
      entrypoint: [REGISTRY_BINARY, 'serve', '/etc/docker/registry/config.yml'],
      env: {},
      labels: { 'slipway.test': runId },
    },
  });
  return `${target.repo}:${target.tag}`;
}

const PUSH_PIPELINE = (registryImage: string) => `variables:
  local.registry: registry:5000
  local.username: ci
jobs:
- job: push
  docker: dind
  services:
    registry: ${registryImage}
  steps:
  - bash: |
      set -e
      mkdir -p ctx && cp /usr/bin/busybox ctx/
      printf 'FROM scratch\\nCOPY busybox /bin/busybox\\nCMD ["/bin/busybox", "echo", "pulled back from the registry"]\\n' > ctx/Dockerfile
  - task: Docker@2
    inputs: { command: buildAndPush, containerRegistry: local, repository: team/app, Dockerfile: ctx/Dockerfile, tags: v2 }
  - bash: |
      set -e
      docker rmi -f registry:5000/team/app:v2 >/dev/null
      docker pull -q registry:5000/team/app:v2
      docker run --rm registry:5000/team/app:v2
      echo "login configs left: $(ls "$(Agent.TempDirectory)" | grep -c docker-config || true)"
`;

it("Docker@2 buildAndPush logs in with the mapped registry's secret password and pushes to a registry service of the job (Debian's docker-registry)", async () => {
  // Tests install what they need from Debian, as the PostgreSQL and Chromium tests do.
  await access(REGISTRY_BINARY).catch(() => {
    throw new Error(
      `${REGISTRY_BINARY} is missing: apt-get install -y --no-install-recommends docker-registry`,
    );
  });
  const runId = randomBytes(5).toString('hex');
  const image = await importRegistryImage(runId);
  try {
    const t = await fleets.start({ minIdle: 0, max: 1 });
    await t.client.request('pools/default', {
      method: 'PATCH',
      token: t.adminToken,
      body: { settings: { allowDind: true, dockerEngine: { insecureRegistries: ['registry:5000'] } } },
    });
    const password = `pw-${runId}`;
    const { run, log } = await finishRun(
      t.client,
      t.adminToken,
      (
        await queueRun(t.client, t.adminToken, PUSH_PIPELINE(image), {
          secrets: { 'local.password': password },
        })
      ).id,
      150_000,
    );
    expect(
      run.jobs.map((j) => [j.name, j.result]),
      log,
    ).toEqual([['push', 'succeeded']]);
    expect(log).toContain('docker login registry:5000 --username ci --password-stdin');
    expect(log).toContain('Login Succeeded');
    expect(log).toContain('docker push registry:5000/team/app:v2');
    expect(log).toContain('pulled back from the registry');
    // The step's login config went with the step.
    expect(log).toContain('login configs left: 0');
    expect(log).not.toContain(password);
  } finally {
    await docker
      .getImage(image)
      .remove({ force: true })
      .catch(() => undefined);
  }
}, 240_000);
