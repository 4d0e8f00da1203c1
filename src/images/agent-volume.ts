import type Dockerode from 'dockerode';
import { SlipwayError } from '../shared/errors.js';
import { AGENT_MOUNT } from './agent-command.js';
import { type BuiltImage, INPUTS_HASH_LABEL } from './build.js';
import { withHostLock } from './host-lock.js';
import { AGENT_IMAGE } from './recipes.js';

export const AGENT_VOLUME_PREFIX = 'slipway-agent-';

export class AgentVolumeError extends SlipwayError {}

/**
 * A named volume holding the agent image's /slipway, for fleets to mount read-only at
 * `AGENT_MOUNT` in any job image. Named by the image's inputs hash (or id), so each agent build gets its
 * own volume and a running job never sees its runtime change underneath it. Docker copies image
 * content into an empty named volume when a container mounts it; the filling container runs
 * the agent's `--version` from the volume, so a volume that exists has been proven to work.
 */
export async function ensureAgentVolume(
  docker: Dockerode,
  agentImage: string | BuiltImage = AGENT_IMAGE,
): Promise<string> {
  const ref = typeof agentImage === 'string' ? agentImage : agentImage.id;
  const image = await docker.getImage(ref).inspect();
  const labels = image.Config?.Labels ?? {};
  if (labels['slipway.kind'] !== 'agent-image') {
    throw new AgentVolumeError(`${ref} is not a Slipway agent image (no slipway.kind=agent-image label)`);
  }
  // Images built from images/agent/Dockerfile carry no inputs hash; their id is as specific.
  const hash = labels[INPUTS_HASH_LABEL] ?? image.Id.replace(/^sha256:/, '');
  const name = `${AGENT_VOLUME_PREFIX}${hash.slice(0, 12)}`;

  return withHostLock('agent-volume', () =>
    fillVolume(docker, name, image.Id, hash, labels['slipway.version']),
  );
}

async function fillVolume(
  docker: Dockerode,
  name: string,
  imageId: string,
  hash: string,
  version: string | undefined,
): Promise<string> {
  const existing = await inspectVolume(docker, name);
  if (existing) {
    if (existing.Labels?.['slipway.kind'] !== 'agent-runtime') {
      throw new AgentVolumeError(`volume ${name} exists but was not made by Slipway; remove it or rename it`);
    }
    return name;
  }

  await docker.createVolume({
    Name: name,
    Labels: {
      'slipway.managed': 'true',
      'slipway.kind': 'agent-runtime',
      [INPUTS_HASH_LABEL]: hash,
      'slipway.version': version ?? 'unknown',
    },
  });
  let container: Dockerode.Container | undefined;
  try {
    container = await docker.createContainer({
      Image: imageId,
      Cmd: ['--version'],
      Labels: { 'slipway.managed': 'true', 'slipway.kind': 'agent-volume-fill' },
      NetworkDisabled: true,
      HostConfig: {
        NetworkMode: 'none',
        Mounts: [{ Type: 'volume', Source: name, Target: AGENT_MOUNT }],
      },
    });
    await container.start();
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    if (StatusCode !== 0) {
      const output = await container.logs({ stdout: true, stderr: true });
      throw new AgentVolumeError(
        `the agent did not run from volume ${name} (exit ${StatusCode}): ${String(output)}`,
      );
    }
  } catch (error) {
    await removeQuietly(container);
    container = undefined;
    await docker
      .getVolume(name)
      .remove()
      .catch(() => undefined);
    throw error;
  } finally {
    await removeQuietly(container);
  }
  return name;
}

async function removeQuietly(container: Dockerode.Container | undefined): Promise<void> {
  await container?.remove({ force: true }).catch(() => undefined);
}

async function inspectVolume(
  docker: Dockerode,
  name: string,
): Promise<Dockerode.VolumeInspectInfo | undefined> {
  try {
    return await docker.getVolume(name).inspect();
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw error;
  }
}

/**
 * Removes agent runtime volumes of other agent builds; each build leaves one (~110 MB). The
 * engine refuses to remove a volume a container still mounts, so running jobs keep theirs and
 * a later prune collects them. Returns the names removed.
 */
export async function pruneAgentVolumes(docker: Dockerode, keep: string): Promise<string[]> {
  const { Volumes } = await docker.listVolumes({ filters: { label: ['slipway.kind=agent-runtime'] } });
  const removed: string[] = [];
  for (const volume of Volumes ?? []) {
    if (volume.Name === keep || !volume.Name.startsWith(AGENT_VOLUME_PREFIX)) continue;
    try {
      await docker.getVolume(volume.Name).remove();
      removed.push(volume.Name);
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 409) throw error;
    }
  }
  return removed;
}
