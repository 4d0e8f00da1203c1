import { stat } from 'node:fs/promises';
import { basename, dirname, join, posix } from 'node:path';
import { AGENT_VERSION } from '../protocol/index.js';
import {
  AGENT_BUNDLE,
  AGENT_BUNDLE_CODE,
  AGENT_BUNDLE_CODE_CACHE,
  AGENT_BUSYBOX,
  AGENT_CA_BUNDLE,
  AGENT_LIB_DIR,
  AGENT_NODE,
  agentCommand,
  loaderName,
} from './agent-command.js';
import type { ImageConfig } from './docker-import.js';
import { findNpm, gitExecPath, HostToolMissingError, isDirectory, requireExecutable } from './host.js';
import { RootfsPlan } from './rootfs.js';

/** Bump when a recipe changes what goes into an image, so cached images with old hashes rebuild. */
export const RECIPE_VERSION = 1;

export const AGENT_IMAGE_REPO = 'slipway/agent';
export const BASE_IMAGE_REPO = 'slipway/base';
export const AGENT_IMAGE = `${AGENT_IMAGE_REPO}:latest`;
export const BASE_IMAGE = `${BASE_IMAGE_REPO}:latest`;

export const IMAGE_PATH = '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin';
const SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/** Host files both images are made from. */
export interface HostFiles {
  node: string;
  busybox: string;
  /** Absolute applet paths busybox reports, e.g. `/bin/sh`. */
  applets: string[];
  caBundle: string;
  /** Directories searched for the base image's tools. */
  searchPath: string;
  arch: string;
}

export interface ImageRecipe {
  repo: string;
  /** Tags besides `latest`. */
  extraTags: string[];
  kind: 'agent-image' | 'base-image' | 'dind-image' | 'buildah-image';
  plan: RootfsPlan;
  config: ImageConfig;
}

/**
 * The skeleton of the helper images (the dind engine, buildah): busybox applets, root alone (and
 * the groups given), host lookups from files, the CA bundle, sticky /tmp, /run and /root.
 */
export async function addRootSkeleton(
  plan: RootfsPlan,
  host: HostFiles,
  groups: string[] = [],
): Promise<void> {
  await plan.file('/usr/bin/busybox', host.busybox, { mode: 0o755 });
  for (const applet of host.applets) {
    if (plan.normalize(applet) !== 'usr/bin/busybox') plan.symlink(applet, '/usr/bin/busybox');
  }
  plan.content('/etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n');
  plan.content('/etc/group', ['root:x:0:', ...groups, ''].join('\n'));
  plan.content('/etc/nsswitch.conf', 'passwd: files\ngroup: files\nhosts: files dns\n');
  await plan.file(SYSTEM_CA_BUNDLE, host.caBundle, { mode: 0o644 });
  plan.dir('/tmp', { mode: 0o1777 });
  plan.dir('/run');
  plan.dir('/root', { mode: 0o700 });
}

/** What every Slipway image has: busybox applets, users, a CA bundle, sticky /tmp. */
async function addSkeleton(plan: RootfsPlan, host: HostFiles, shell: string): Promise<void> {
  await plan.file('/usr/bin/busybox', host.busybox, { mode: 0o755 });
  for (const applet of host.applets) {
    if (plan.normalize(applet) !== 'usr/bin/busybox') plan.symlink(applet, '/usr/bin/busybox');
  }
  plan.content(
    '/etc/passwd',
    [
      `root:x:0:0:root:/root:${shell}`,
      `slipway:x:1000:1000:slipway:/home/slipway:${shell}`,
      'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
      '',
    ].join('\n'),
  );
  plan.content('/etc/group', ['root:x:0:', 'slipway:x:1000:', 'nogroup:x:65534:', ''].join('\n'));
  // Without it glibc falls back to an order that asks DNS before /etc/hosts.
  plan.content('/etc/nsswitch.conf', 'passwd: files\ngroup: files\nhosts: files dns\n');
  await plan.file(SYSTEM_CA_BUNDLE, host.caBundle, { mode: 0o644 });
  plan.dir('/tmp', { mode: 0o1777 });
  plan.dir('/var/tmp', { mode: 0o1777 });
  plan.dir('/root', { mode: 0o700 });
  plan.dir('/home/slipway', { uid: 1000, gid: 1000 });
  plan.dir('/usr/local/bin');
}

/**
 * The agent runtime under /slipway (node, its libraries with the loader, the bundle, busybox and
 * the CA bundle) in an image that also runs on its own: `docker run slipway/agent --once`.
 */
export async function agentRecipe(host: HostFiles, bundlePath: string): Promise<ImageRecipe> {
  const plan = new RootfsPlan();
  await addSkeleton(plan, host, '/bin/sh');
  const libraries = await plan.executable(
    AGENT_NODE,
    host.node,
    (library) => `${AGENT_LIB_DIR}/${basename(library.path)}`,
  );
  const loader = loaderName(host.arch);
  const loaderLibrary = libraries.find((library) => basename(library.path) === loader);
  if (!loaderLibrary) {
    const names = libraries.map((library) => library.name).join(', ');
    throw new HostToolMissingError(
      'a glibc build of node',
      `${host.node} links ${names}, not glibc's ${loader}`,
    );
  }
  // The loader is run as a program, so it must be executable whatever the host's mode says.
  await plan.file(`${AGENT_LIB_DIR}/${loader}`, loaderLibrary.path, { mode: 0o755 });
  await plan.file(AGENT_BUNDLE, bundlePath, { mode: 0o644, hashContent: true });
  const code = join(dirname(bundlePath), basename(AGENT_BUNDLE_CODE));
  await plan.file(AGENT_BUNDLE_CODE, code, { mode: 0o644, hashContent: true });
  // Without its cache the agent still runs, compiled from source at every start.
  if (
    await stat(`${code}.cache`).then(
      (f) => f.isFile(),
      () => false,
    )
  )
    await plan.file(AGENT_BUNDLE_CODE_CACHE, `${code}.cache`, { mode: 0o644, hashContent: true });
  await plan.file(AGENT_BUSYBOX, host.busybox, { mode: 0o755 });
  await plan.file(AGENT_CA_BUNDLE, host.caBundle, { mode: 0o644 });
  return {
    repo: AGENT_IMAGE_REPO,
    extraTags: [AGENT_VERSION],
    kind: 'agent-image',
    plan,
    config: {
      entrypoint: agentCommand([], host.arch),
      env: { PATH: IMAGE_PATH, NODE_EXTRA_CA_CERTS: SYSTEM_CA_BUNDLE },
      workdir: '/home/slipway',
      labels: { 'slipway.version': AGENT_VERSION },
    },
  };
}

/** Tools of the default job image, with the Debian package that provides each (for the error hint). */
const BASE_TOOLS: Array<[tool: string, debianPackage: string]> = [
  ['bash', 'bash'],
  ['git', 'git'],
  ['curl', 'curl'],
  ['tar', 'tar'],
  ['gzip', 'gzip'],
  ['xz', 'xz-utils'],
  ['make', 'make'],
  // The client for `docker: dind` and `docker: socket` jobs.
  ['docker', 'docker.io'],
];

/** The default job image: bash, git, curl, tar, gzip, xz, make, the docker CLI, node and npm, busybox for the rest. */
export async function baseRecipe(host: HostFiles): Promise<ImageRecipe> {
  const plan = new RootfsPlan();
  await addSkeleton(plan, host, '/bin/bash');
  const tools = await Promise.all(
    BASE_TOOLS.map(
      async ([tool, pkg]) => [tool, await requireExecutable(tool, pkg, host.searchPath)] as const,
    ),
  );
  await Promise.all(tools.map(([tool, path]) => plan.executable(`/usr/bin/${tool}`, path)));

  const git = tools.find(([tool]) => tool === 'git')![1];
  const execPath = await gitExecPath(git);
  await plan.tree(execPath, execPath, { withLibraries: true });
  // Debian ships git twice (bin and git-core); one copy and a link save 3.7 MB.
  if (plan.has(`${execPath}/git`))
    plan.symlink('/usr/bin/git', posix.relative('/usr/bin', `${execPath}/git`));
  for (const command of ['git-upload-pack', 'git-receive-pack', 'git-upload-archive']) {
    plan.symlink(`/usr/bin/${command}`, 'git');
  }
  // `git init` copies hooks and info/exclude from here; without it git warns on every init.
  const templates = '/usr/share/git-core/templates';
  if (await isDirectory(templates)) await plan.tree(templates, templates);

  await plan.executable('/usr/bin/node', host.node);
  const npm = await findNpm(host.node);
  await plan.tree('/usr/lib/node_modules/npm', npm);
  plan.symlink('/usr/bin/npm', '../lib/node_modules/npm/bin/npm-cli.js');
  plan.symlink('/usr/bin/npx', '../lib/node_modules/npm/bin/npx-cli.js');

  return {
    repo: BASE_IMAGE_REPO,
    extraTags: [],
    kind: 'base-image',
    plan,
    config: {
      cmd: ['/bin/bash'],
      env: { PATH: IMAGE_PATH, HOME: '/root', NODE_EXTRA_CA_CERTS: SYSTEM_CA_BUNDLE },
      workdir: '/',
      labels: {},
    },
  };
}
