/** Job keys that may sit at the top level next to a top-level `steps:`. */
export const SHORTHAND_JOB_KEYS = [
  'container',
  'services',
  'docker',
  'timeoutInMinutes',
  'cancelTimeoutInMinutes',
  'continueOnError',
  'strategy',
  'workspace',
];

/** Keys a pipeline (and so an `extends` template's body) may hold at its top level. */
export const PIPELINE_KEYS = [
  'name',
  'pool',
  'variables',
  'stages',
  'jobs',
  'steps',
  'trigger',
  'pr',
  'schedules',
  'resources',
  'lockBehavior',
  'appendCommitMessageToRunName',
  ...SHORTHAND_JOB_KEYS,
];
