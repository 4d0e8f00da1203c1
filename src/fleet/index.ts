export {
  AGENT_URL,
  buildContainerSpec,
  type ContainerSpec,
  type ContainerSpecInput,
  DIND_HOST,
  DOCKER_CERT_PATH,
  DROPPED_CAPABILITIES,
  engineArgs,
  fleetNetworkSpec,
  type ResourceLimits,
  SOCKET_IN_CONTAINER,
  TICKET_PATH,
  WORK_DIR,
} from './container-spec.js';
export type {
  DockerEngineOptions,
  FleetDriver,
  GcReport,
  ServiceRequest,
  UnitExit,
  UnitInfo,
  UnitRequest,
} from './driver.js';
export {
  DindNotReadyError,
  DockerDriver,
  type DockerDriverOptions,
  ImageUnavailableError,
  UnitStartError,
} from './drivers/docker.js';
export { KubernetesDriver, type KubernetesDriverOptions } from './drivers/kubernetes.js';
export {
  inClusterTarget,
  KubeConfigError,
  KubernetesApiError,
  KubernetesClient,
  type KubeTarget,
  kubeconfigTarget,
  serverTarget,
} from './drivers/kubernetes-client.js';
export { defaultFleetId } from './fleet-id.js';
export {
  type FleetEvents,
  FleetManager,
  type FleetManagerOptions,
  type FleetState,
  PoolNotFoundError,
  type UnitEvent,
} from './fleet-manager.js';
export { FLEET_ROLE, fleetFilter, LABEL } from './labels.js';
export {
  allocateNames,
  type DockerPolicy,
  isWarmJob,
  type Plan,
  type PlanInput,
  planFleet,
  refusal,
} from './plan.js';
export {
  AGENT_CONTAINER,
  buildPodSpec,
  buildTicketSecret,
  type PodSpec,
  PodSpecError,
  type PodSpecOptions,
} from './pod-spec.js';
export { type HostResources, parseByteSize, parseResourceLimits, withDefaultLimits } from './resources.js';
