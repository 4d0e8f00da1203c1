import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_VERSION } from '../protocol/index.js';
import { demuxDockerLogs } from '../shared/docker-logs.js';
import { AGENT_LIB_DIR, AGENT_MOUNT, AGENT_NODE, agentCommand, loaderName } from './agent-command.js';
import { AGENT_VOLUME_PREFIX, ensureAgentVolume } from './agent-volume.js';
import { type BuiltImages, buildImages, INPUTS_HASH_LABEL } from './build.js';
import { importRootfs } from './docker-import.js';
import { findStaticBusybox } from './host.js';
import { RootfsPlan } from './rootfs.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const bundlePath = join(repoRoot, 'dist/agent/slipway-agent.mjs');
const runId = randomBytes(6).toString('hex');
const testLabels = { 'slipway.managed': 'true', 'slipway.test': runId };

const docker = new Docker();
const createdContainers = new Set<string>();
const createdImages = new Set<string>();
let built: BuiltImages;
let firstBuildMs = 0;
let busyboxOnlyImage = '';
let agentVolume = '';

interface RunResult {
  exitCode: number;
  output: string;
}

interface RunOptions {
  cmd: string[];
  entrypoint?: string[];
  user?: string;
  readOnly?: boolean;
  mounts?: Docker.MountSettings[];
}

async function run(image: string, options: RunOptions): Promise<RunResult> {
  const container = await docker.createContainer({
    Image: image,
    Cmd: options.cmd,
    ...(options.entrypoint ? { Entrypoint: options.entrypoint } : {}),
    ...(options.user ? { User: options.user } : {}),
    Labels: testLabels,
    NetworkDisabled: true,
    HostConfig: {
      NetworkMode: 'none',
      ReadonlyRootfs: options.readOnly ?? false,
      Mounts: options.mounts ?? [],
    },
  });
  createdContainers.add(container.id);
  try {
    await container.start();
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    return { exitCode: StatusCode, output: await settledLogs(container) };
  } finally {
    await container.remove({ force: true }).catch(() => undefined);
    createdContainers.delete(container.id);
  }
}

/**
 * The container's whole output. The engine may still be copying the last of it to the log when
 * `wait` returns, so read until two reads agree.
 */
async function settledLogs(container: Docker.Container): Promise<string> {
  let previous = '';
  for (let i = 0; i < 20; i++) {
    const raw = (await container.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
    const text = demuxDockerLogs(raw);
    if (i > 0 && text === previous) return text;
    previous = text;
    await new Promise((r) => setTimeout(r, 50));
  }
  return previous;
}

/** The agent's CLI prints its version, with or without its name in front. */
function expectVersion(result: RunResult): void {
  expect(result.exitCode, result.output).toBe(0);
  expect(result.output.trim().split(' ').at(-1)).toBe(AGENT_VERSION);
}

const agentMount = (): Docker.MountSettings[] => [
  { Type: 'volume', Source: agentVolume, Target: AGENT_MOUNT, ReadOnly: true },
];

beforeAll(async () => {
  if (spawnSync('docker', ['info'], { stdio: 'ignore' }).status !== 0) {
    execFileSync('bash', [join(repoRoot, 'scripts/ensure-docker.sh')], { stdio: 'inherit' });
  }
  if (!existsSync(bundlePath)) {
    execFileSync(process.execPath, [join(repoRoot, 'scripts/bundle-agent.mjs')], { stdio: 'inherit' });
  }
  const started = performance.now();
  built = await buildImages({ docker, agentBundlePath: bundlePath });
  firstBuildMs = performance.now() - started;

  // An image with nothing but static busybox: no libc, no loader, so an agent that runs here
  // brought everything it needs.
  const plan = new RootfsPlan({ usrMerge: false });
  await plan.file('/bin/busybox', await findStaticBusybox(), { mode: 0o755 });
  plan.symlink('/bin/sh', 'busybox');
  busyboxOnlyImage = await importRootfs(docker, plan.tar(), {
    repo: 'slipway-test/busybox-only',
    tag: runId,
    config: {
      cmd: ['/bin/sh'],
      env: { PATH: '/bin' },
      labels: { ...testLabels, 'slipway.kind': 'test-image' },
    },
  });
  createdImages.add(busyboxOnlyImage);
  agentVolume = await ensureAgentVolume(docker, built.agent);
});

afterAll(async () => {
  for (const id of createdContainers)
    await docker
      .getContainer(id)
      .remove({ force: true })
      .catch(() => undefined);
  for (const id of createdImages)
    await docker
      .getImage(id)
      .remove({ force: true })
      .catch(() => undefined);
});

describe('buildImages', () => {
  it('builds labelled agent and base images of a reasonable size', async () => {
    console.info(
      `images: first build ${Math.round(firstBuildMs)} ms (agent ${built.agent.built ? 'built' : 'cached'} ` +
        `${(built.agent.sizeBytes / 1e6).toFixed(0)} MB, base ${built.base.built ? 'built' : 'cached'} ` +
        `${(built.base.sizeBytes / 1e6).toFixed(0)} MB)`,
    );
    for (const image of [built.agent, built.base]) {
      const info = await docker.getImage(image.ref).inspect();
      expect(info.Id).toBe(image.id);
      expect(info.Config.Labels).toMatchObject({
        'slipway.managed': 'true',
        [INPUTS_HASH_LABEL]: image.inputsHash,
      });
      // The base image carries the docker CLI (45 MB) for docker: dind and socket jobs.
      expect(info.Size).toBeLessThan(image === built.base ? 260e6 : 200e6);
      expect(info.Config.Env.some((e) => e.startsWith('LD_LIBRARY_PATH'))).toBe(false);
    }
    const agent = await docker.getImage(built.agent.ref).inspect();
    expect(agent.RepoTags).toEqual(
      expect.arrayContaining(['slipway/agent:latest', `slipway/agent:${AGENT_VERSION}`]),
    );
    expect(agent.Config.Entrypoint).toEqual(agentCommand([]));
    expect(agent.Config.Labels['slipway.kind']).toBe('agent-image');
  });

  it('skips a rebuild when the inputs hash matches', async () => {
    const started = performance.now();
    const again = await buildImages({ docker, agentBundlePath: bundlePath });
    const ms = performance.now() - started;
    console.info(`images: cached rebuild ${Math.round(ms)} ms`);
    expect(again.agent).toMatchObject({
      built: false,
      id: built.agent.id,
      inputsHash: built.agent.inputsHash,
    });
    expect(again.base).toMatchObject({ built: false, id: built.base.id, inputsHash: built.base.inputsHash });
    // Under a second on an idle machine; the wide margin is for parallel test files on two cores.
    expect(ms).toBeLessThan(6000);
  });
});

describe('importRootfs', () => {
  it('aborts the import when a file changes while it streams, leaving no image', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slipway-import-'));
    try {
      await writeFile(join(dir, 'file'), 'x'.repeat(100_000));
      const plan = new RootfsPlan({ usrMerge: false });
      await plan.file('/file', join(dir, 'file'));
      await truncate(join(dir, 'file'), 10);
      const ref = `slipway-test/aborted:${runId}`;
      const attempt = importRootfs(docker, plan.tar(), {
        repo: 'slipway-test/aborted',
        tag: runId,
        config: { env: {}, labels: testLabels },
      });
      await expect(attempt).rejects.toThrow('changed while the image was being built');
      const left = await docker.listImages({ filters: { reference: [ref] } });
      for (const image of left) createdImages.add(image.Id);
      expect(left).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('agent runtime', () => {
  it('answers --version in the agent image itself', async () => {
    const result = await run(built.agent.ref, { cmd: ['--version'] });
    expectVersion(result);
  });

  it('gives the agent image a shell, users and a world-readable runtime', async () => {
    const script = [
      'id -u slipway',
      'stat -c %a /tmp',
      'test -s /etc/ssl/certs/ca-certificates.crt && echo ca',
      // Anything under /slipway that "other" cannot read would break a non-root agent.
      `find ${AGENT_MOUNT} ! -perm -o+r | wc -l`,
    ].join(' && ');
    const result = await run(built.agent.ref, {
      entrypoint: ['/bin/sh', '-c'],
      cmd: [script],
      user: '1000:1000',
    });
    expect(result).toEqual({ exitCode: 0, output: '1000\n1777\nca\n0\n' });
  });

  it('runs from the read-only agent volume in an image with no libc at all', async () => {
    const result = await run(busyboxOnlyImage, { cmd: agentCommand(['--version']), mounts: agentMount() });
    expectVersion(result);
  });

  it('runs from the volume as a non-root user', async () => {
    const result = await run(busyboxOnlyImage, {
      cmd: agentCommand(['--version']),
      mounts: agentMount(),
      user: '1000:1000',
    });
    expectVersion(result);
  });

  it('runs from the volume with a read-only root filesystem', async () => {
    const result = await run(busyboxOnlyImage, {
      cmd: agentCommand(['--version']),
      mounts: agentMount(),
      readOnly: true,
      user: '1000:1000',
    });
    expectVersion(result);
  });

  it("starts the job's processes with the image's own binaries, not the runtime's libraries", async () => {
    const script =
      "const { execFileSync } = require('node:child_process');" +
      "process.stdout.write(execFileSync('sh', ['-c', 'echo child:$LD_LIBRARY_PATH:ok'], { encoding: 'utf8' }));";
    const result = await run(busyboxOnlyImage, {
      cmd: [`${AGENT_LIB_DIR}/${loaderName()}`, '--library-path', AGENT_LIB_DIR, AGENT_NODE, '-e', script],
      mounts: agentMount(),
      readOnly: true,
      user: '1000:1000',
    });
    expect(result).toEqual({ exitCode: 0, output: 'child::ok\n' });
  });

  it('reuses the agent volume of the same build', async () => {
    expect(agentVolume).toBe(`${AGENT_VOLUME_PREFIX}${built.agent.inputsHash.slice(0, 12)}`);
    expect(await ensureAgentVolume(docker, built.agent.ref)).toBe(agentVolume);
    const volume = await docker.getVolume(agentVolume).inspect();
    expect(volume.Labels).toMatchObject({ 'slipway.managed': 'true', 'slipway.kind': 'agent-runtime' });
  });
});

describe('base image', () => {
  it('has bash, git, curl, tar, make, node, npm and the docker CLI working', async () => {
    const script = [
      'set -euo pipefail',
      'echo "bash $BASH_VERSINFO"',
      'git --version',
      // `sed -n 1p` reads all of its input: with `head`, a slow writer can die of SIGPIPE, which
      // pipefail turns into the script's failure (seen under load).
      'curl --version | sed -n 1p | cut -d" " -f1',
      'tar --version | sed -n 1p',
      'make --version | sed -n 1p | cut -d" " -f1,2',
      "node -e \"console.log('node', process.versions.node.split('.')[0])\"",
      'npm --version > /dev/null && echo npm',
      'echo xz | xz | xz -d',
      'echo gzip | gzip | gunzip',
      'cd /tmp && git init -q origin && cd origin',
      'git -c user.email=ci@example.com -c user.name=ci commit -q --allow-empty -m first',
      'git clone -q /tmp/origin /tmp/clone && git -C /tmp/clone log --format=%s',
      'printf "all:\\n\\t@echo made\\n" > /tmp/Makefile && make -s -C /tmp',
      // The client for docker: dind and docker: socket jobs.
      'docker --version | cut -d" " -f1',
    ].join('\n');
    const result = await run(built.base.ref, { cmd: ['bash', '-c', script] });
    expect(result.exitCode, result.output).toBe(0);
    expect(result.output).toMatch(/^bash 5\n/m);
    expect(result.output).toMatch(/^git version \d/m);
    expect(result.output).toMatch(/^curl\n/m);
    expect(result.output).toMatch(/^tar \(GNU tar\)/m);
    expect(result.output).toMatch(/^GNU Make\n/m);
    expect(result.output).toMatch(new RegExp(`^node ${process.versions.node.split('.')[0]}\\n`, 'm'));
    expect(result.output).toMatch(/^npm\nxz\ngzip\nfirst\nmade\nDocker\n$/m);
    expect(result.exitCode).toBe(0);
  });

  it('lets a non-root user work in /tmp', async () => {
    const result = await run(built.base.ref, {
      cmd: ['bash', '-c', 'cd /tmp && HOME=/tmp git init -q repo && ls -d repo/.git && id -un'],
      user: '1000:1000',
    });
    expect(result).toEqual({ exitCode: 0, output: 'repo/.git\nslipway\n' });
  });
});
