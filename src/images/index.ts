export {
  AGENT_BUNDLE,
  AGENT_BUSYBOX,
  AGENT_CA_BUNDLE,
  AGENT_LIB_DIR,
  AGENT_MOUNT,
  AGENT_NODE,
  agentCommand,
  loaderName,
} from './agent-command.js';
export {
  AGENT_VOLUME_PREFIX,
  AgentVolumeError,
  ensureAgentVolume,
  pruneAgentVolumes,
} from './agent-volume.js';
export {
  AgentBundleMissingError,
  type BuildImagesOptions,
  type BuiltImage,
  type BuiltImages,
  buildImages,
  INPUTS_HASH_LABEL,
} from './build.js';
export { BUILDAH_IMAGE, BUILDAH_IMAGE_REPO } from './buildah.js';
export {
  DIND_CLIENT_CERTS,
  DIND_ENTRYPOINT,
  DIND_IMAGE,
  DIND_IMAGE_REPO,
  DIND_PORT,
  DIND_READY_FILE,
  DIND_SERVER_CERTS,
} from './dind.js';
export { ImageImportError } from './docker-import.js';
export { DEFAULT_HOST_PATH, HostToolMissingError } from './host.js';
export { AGENT_IMAGE, AGENT_IMAGE_REPO, BASE_IMAGE, BASE_IMAGE_REPO, IMAGE_PATH } from './recipes.js';
