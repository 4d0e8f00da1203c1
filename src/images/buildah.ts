import { readFile } from 'node:fs/promises';
import type { ImageConfig } from './docker-import.js';
import { requireExecutable } from './host.js';
import type { HostFiles, ImageRecipe } from './recipes.js';
import { addRootSkeleton, IMAGE_PATH } from './recipes.js';
import { RootfsPlan } from './rootfs.js';

export const BUILDAH_IMAGE_REPO = 'slipway/buildah';
export const BUILDAH_IMAGE = `${BUILDAH_IMAGE_REPO}:latest`;

/** Where the host keeps the containers' policy and registries; buildah refuses to pull without a policy. */
const CONTAINERS_CONFIG = '/etc/containers';

/**
 * vfs: overlay needs mount rights a job container has not. Storage lives in the container's own
 * layer, so it goes with the job.
 */
const STORAGE_CONF = `[storage]
driver = "vfs"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"
`;

/** Accept any image (the engine's default); an admin who signs images puts their own policy in a derived image. */
const DEFAULT_POLICY = '{ "default": [{ "type": "insecureAcceptAnything" }] }\n';

/**
 * An image for `docker: rootless` jobs: the host's buildah with its libraries, busybox for a shell,
 * and the containers configuration, made from this host's files like the other images (no
 * registry). `buildah bud -t app . && buildah push app docker-archive:app.tar` builds without any
 * engine; `FROM node:20` works where a registry is reachable.
 */
export async function buildahRecipe(host: HostFiles): Promise<ImageRecipe> {
  const buildah = await requireExecutable('buildah', 'buildah', host.searchPath);
  const plan = new RootfsPlan();
  await addRootSkeleton(plan, host);
  plan.dir('/var/tmp', { mode: 0o1777 });
  plan.dir('/var/lib/containers/storage', { mode: 0o700 });
  await plan.executable('/usr/bin/buildah', buildah);
  plan.content(`${CONTAINERS_CONFIG}/storage.conf`, STORAGE_CONF, { mode: 0o644 });
  plan.content(
    `${CONTAINERS_CONFIG}/policy.json`,
    (await readOptional(`${CONTAINERS_CONFIG}/policy.json`)) ?? DEFAULT_POLICY,
    { mode: 0o644 },
  );
  const registries = await readOptional(`${CONTAINERS_CONFIG}/registries.conf`);
  if (registries) plan.content(`${CONTAINERS_CONFIG}/registries.conf`, registries, { mode: 0o644 });
  const config: ImageConfig = {
    entrypoint: ['/bin/sh'],
    env: { PATH: IMAGE_PATH, BUILDAH_ISOLATION: 'chroot', STORAGE_DRIVER: 'vfs' },
    workdir: '/',
    labels: {},
  };
  return { repo: BUILDAH_IMAGE_REPO, extraTags: [], kind: 'buildah-image', plan, config };
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}
