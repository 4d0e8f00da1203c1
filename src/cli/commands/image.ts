import { buildImages, ensureAgentVolume, pruneAgentVolumes } from '../../images/index.js';
import type { Logger } from '../../shared/logger.js';
import { EXIT } from '../exit-codes.js';
import { formatDuration } from '../render.js';
import { AGENT_BUNDLE_PATH, connectDocker } from './docker-host.js';

/** `slipway image build`: the agent, base, dind and buildah images from this host's files, without a registry. */
export async function imageBuildCommand(o: { force?: boolean; logger: Logger; out: (s: string) => void }) {
  const docker = await connectDocker();
  const images = await buildImages({
    docker,
    agentBundlePath: AGENT_BUNDLE_PATH,
    force: o.force ?? false,
    logger: o.logger,
  });
  const volume = await ensureAgentVolume(docker, images.agent);
  const pruned = await pruneAgentVolumes(docker, volume);
  o.out(`${['IMAGE', 'ID', 'SIZE', 'STATUS'].join('\t')}\n`);
  for (const image of [images.agent, images.base, images.dind, images.buildah]) {
    if (!image) continue;
    const status = image.built ? `built in ${formatDuration(image.durationMs)}` : 'up to date';
    const size = `${(image.sizeBytes / 1024 / 1024).toFixed(0)} MB`;
    o.out(`${[image.ref, image.id.replace(/^sha256:/, '').slice(0, 12), size, status].join('\t')}\n`);
  }
  o.out(`agent runtime volume: ${volume}${pruned.length ? ` (removed ${pruned.length} older)` : ''}\n`);
  return EXIT.ok;
}
