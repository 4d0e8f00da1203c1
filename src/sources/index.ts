// Repositories the coordinator mirrors, and what turns their pushes, pull requests and cron
// ticks into runs. Forge credentials stay in this domain and the coordinator.
export { type Cron, CronSyntaxError, lastSlotAtOrBefore, nextSlotAfter, parseCron } from './cron.js';
export {
  type CommitStatus,
  postStatus,
  type StatusApi,
  type StatusState,
  statusApiFromUrl,
  statusRequest,
} from './forge-status.js';
export { type GitCredential, GitError, GitRunner, type GitRunnerOptions } from './git.js';
export { KeyedQueue } from './keyed-queue.js';
export { Mirror, type MirrorOptions } from './mirror.js';
export {
  SourcesRunner,
  type SourcesRunnerOptions,
  type SourcesRunnerState,
  type SourceWork,
} from './runner.js';
export { DEFAULT_SCHEDULE_GRACE_MS, planSchedule, type ScheduleDecision, scheduleKey } from './schedules.js';
export {
  type CiTrigger,
  ciTriggered,
  type Filter,
  type PrTrigger,
  prTriggered,
  readTriggers,
  type Schedule,
  scheduleBranches,
  TriggerSyntaxError,
  type Triggers,
} from './triggers.js';
export {
  deliveryId,
  FORGES,
  type Forge,
  type HookEvent,
  HookPayloadError,
  parseDelivery,
  verifyDelivery,
} from './webhooks.js';
