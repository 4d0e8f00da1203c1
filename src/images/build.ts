import { stat } from 'node:fs/promises';
import type Dockerode from 'dockerode';
import { SlipwayError } from '../shared/errors.js';
import { type Logger, silentLogger } from '../shared/logger.js';
import { buildahRecipe } from './buildah.js';
import { dindRecipe } from './dind.js';
import { importRootfs } from './docker-import.js';
import {
  busyboxApplets,
  DEFAULT_HOST_PATH,
  findCaBundle,
  findStaticBusybox,
  HostToolMissingError,
} from './host.js';
import { withHostLock } from './host-lock.js';
import { agentRecipe, baseRecipe, type HostFiles, type ImageRecipe, RECIPE_VERSION } from './recipes.js';

export const INPUTS_HASH_LABEL = 'slipway.inputs-hash';

export interface BuildImagesOptions {
  docker: Dockerode;
  /** The agent bundle, `dist/agent/slipway-agent.mjs` after `npm run build`. */
  agentBundlePath: string;
  /** Default: silent. */
  logger?: Logger;
  /** Rebuild even when an image with the same inputs hash exists; default false. */
  force?: boolean;
  /** The node binary copied into both images; default the one running this process. */
  nodePath?: string;
  /** Directories searched for busybox and the base image's tools; default `DEFAULT_HOST_PATH`. */
  hostPath?: string;
  /**
   * Also build `slipway/dind`, the per-job engine of `docker: dind` jobs, from the host's engine
   * binaries; default true. Skipped (with a warning) when the host lacks them.
   */
  dind?: boolean;
  /** Also build `slipway/buildah` for `docker: rootless` jobs; default true. Skipped (with a warning) without buildah on the host. */
  buildah?: boolean;
}

export interface BuiltImage {
  /** `repo:latest`. */
  ref: string;
  id: string;
  tags: string[];
  inputsHash: string;
  /** False when an image with the same inputs hash already existed. */
  built: boolean;
  sizeBytes: number;
  durationMs: number;
}

export interface BuiltImages {
  agent: BuiltImage;
  base: BuiltImage;
  /** Absent when not asked for or when the host has no engine binaries to make it from. */
  dind?: BuiltImage;
  /** Absent when not asked for or when the host has no buildah. */
  buildah?: BuiltImage;
}

export class AgentBundleMissingError extends SlipwayError {
  constructor(
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(
      `the agent bundle ${path} does not exist: run \`npm run build\` (or node scripts/bundle-agent.mjs)`,
      options,
    );
  }
}

/**
 * Builds `slipway/agent`, `slipway/base` (and `slipway/dind`) from this host's files, without a registry. Each
 * image carries a hash of its inputs; an image whose hash matches is kept as it is.
 */
export async function buildImages(options: BuildImagesOptions): Promise<BuiltImages> {
  const logger = options.logger ?? silentLogger;
  try {
    await stat(options.agentBundlePath);
  } catch (error) {
    throw new AgentBundleMissingError(options.agentBundlePath, { cause: error });
  }
  const searchPath = options.hostPath ?? DEFAULT_HOST_PATH;
  const busybox = await findStaticBusybox(searchPath);
  const host: HostFiles = {
    node: options.nodePath ?? process.execPath,
    busybox,
    applets: await busyboxApplets(busybox),
    caBundle: await findCaBundle(),
    searchPath,
    arch: process.arch,
  };
  const optional = (image: string, use: string) => (error: unknown) => {
    if (!(error instanceof HostToolMissingError)) throw error;
    logger.warn({ err: error.message }, `not building ${image}: ${use}`);
    return undefined;
  };
  const [agentPlan, basePlan, dindPlan, buildahPlan] = await Promise.all([
    agentRecipe(host, options.agentBundlePath),
    baseRecipe(host),
    options.dind === false
      ? undefined
      : dindRecipe(host).catch(optional('slipway/dind', "'docker: dind' jobs will not start")),
    options.buildah === false
      ? undefined
      : buildahRecipe(host).catch(optional('slipway/buildah', 'there is no image for docker: rootless jobs')),
  ]);
  // One at a time, across processes too: both imports are disk-bound in the engine, and a
  // process that waited finds the other's image and skips.
  return withHostLock('image-build', async () => {
    const agent = await buildImage(options.docker, agentPlan, options.force ?? false, logger);
    const base = await buildImage(options.docker, basePlan, options.force ?? false, logger);
    const dind = dindPlan && (await buildImage(options.docker, dindPlan, options.force ?? false, logger));
    const buildah =
      buildahPlan && (await buildImage(options.docker, buildahPlan, options.force ?? false, logger));
    return { agent, base, ...(dind ? { dind } : {}), ...(buildah ? { buildah } : {}) };
  });
}

async function buildImage(
  docker: Dockerode,
  recipe: ImageRecipe,
  force: boolean,
  logger: Logger,
): Promise<BuiltImage> {
  const started = performance.now();
  const ref = `${recipe.repo}:latest`;
  const wanted = [ref, ...recipe.extraTags.map((tag) => `${recipe.repo}:${tag}`)];
  const inputsHash = recipe.plan.hash({ recipe: RECIPE_VERSION, config: recipe.config });
  const log = logger.child({ image: ref });

  const existing = await inspectImage(docker, ref);
  if (!force && existing?.Config?.Labels?.[INPUTS_HASH_LABEL] === inputsHash) {
    await tagAll(docker, existing.Id, recipe.repo, recipe.extraTags, existing.RepoTags ?? []);
    const durationMs = Math.round(performance.now() - started);
    log.debug({ inputsHash, durationMs }, 'image is up to date');
    return {
      ref,
      id: existing.Id,
      tags: wanted,
      inputsHash,
      built: false,
      sizeBytes: existing.Size,
      durationMs,
    };
  }

  const config = {
    ...recipe.config,
    labels: {
      ...recipe.config.labels,
      'slipway.managed': 'true',
      'slipway.kind': recipe.kind,
      [INPUTS_HASH_LABEL]: inputsHash,
    },
  };
  const id = await importRootfs(docker, recipe.plan.tar(), { repo: recipe.repo, tag: 'latest', config });
  await tagAll(docker, id, recipe.repo, recipe.extraTags, []);
  if (existing && existing.Id !== id) await removeIfUntagged(docker, existing.Id, log);
  const inspected = await docker.getImage(id).inspect();
  const durationMs = Math.round(performance.now() - started);
  log.info({ id, inputsHash, sizeBytes: inspected.Size, durationMs }, 'built image');
  return { ref, id, tags: wanted, inputsHash, built: true, sizeBytes: inspected.Size, durationMs };
}

async function inspectImage(docker: Dockerode, ref: string): Promise<Dockerode.ImageInspectInfo | undefined> {
  try {
    return await docker.getImage(ref).inspect();
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw error;
  }
}

async function tagAll(
  docker: Dockerode,
  id: string,
  repo: string,
  tags: string[],
  has: string[],
): Promise<void> {
  for (const tag of tags) {
    if (!has.includes(`${repo}:${tag}`)) await docker.getImage(id).tag({ repo, tag });
  }
}

/** The image a rebuild replaced, unless someone tagged it or a container still uses it. */
async function removeIfUntagged(docker: Dockerode, id: string, log: Logger): Promise<void> {
  const old = await inspectImage(docker, id);
  if (!old || (old.RepoTags ?? []).length > 0) return;
  try {
    await docker.getImage(id).remove();
  } catch (error) {
    log.debug({ id, err: error }, 'kept the replaced image');
  }
}
