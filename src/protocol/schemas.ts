/**
 * Bodies exchanged between the server, the agent and the CLI. Both ends validate with these
 * schemas, so a field renamed on one side fails loudly on the other.
 */
import { z } from 'zod';
// The plan's schema module alone: the pipeline's index would load its YAML reader into every client.
import { buildReason, dockerMode, jobPlan, taskResult } from '../pipeline/plan-schema.js';

export const API_PREFIX = '/api/v1';

const name = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" and "-" only');

// The one spelling of each status: the store's rows, the server and the CLI derive theirs from these.
export { taskResult };
export const jobStatus = z.enum(['pending', 'queued', 'running', 'completed']);
export type JobStatus = z.infer<typeof jobStatus>;
export const runStatus = z.enum(['queued', 'running', 'completed']);
export type RunStatus = z.infer<typeof runStatus>;
export const stepState = z.enum(['pending', 'running', 'completed']);
export type StepState = z.infer<typeof stepState>;
/** What an agent reports of a step: it starts it and it ends it (`pending` is the server's). */
export const reportedStepState = stepState.exclude(['pending']);

// ── tokens and pools ───────────────────────────────────────────────────────────
export const tokenScope = z.enum(['admin', 'agent:register', 'runs:write', 'runs:read', 'agents:read']);
export type TokenScope = z.infer<typeof tokenScope>;

export const createTokenRequest = z.object({
  name: z.string().max(100).default('token'),
  scopes: z.array(tokenScope).min(1),
  /** Days until expiry; PATs always expire. */
  expiresInDays: z.number().int().min(1).max(366).default(30),
  /** Seconds until expiry; when given, it takes the place of `expiresInDays`. */
  expiresInSeconds: z
    .number()
    .int()
    .min(1)
    .max(366 * 86_400)
    .optional(),
});
export type CreateTokenRequest = z.input<typeof createTokenRequest>;
export const createTokenResponse = z.object({ id: z.string(), token: z.string(), expiresAt: z.string() });

/** A pool's policy, as sent and as stored (`PoolSettings` is its output). */
export const poolSettings = z.object({
  /** Allow `docker: socket` jobs (root on the host: an explicit, loud opt-in). */
  allowDockerSocket: z.boolean().default(false),
  /** New attempts for a job whose agent is lost mid-job, unless the job says otherwise. Default 0. */
  retryCountOnAgentLoss: z.number().int().min(0).max(10).optional(),
  /** Image for container jobs that name none. */
  defaultImage: z.string().optional(),
  /** Seconds a queued job that no agent and no fleet serves waits before it fails (default 900, 15 min). */
  queueTimeoutSeconds: z
    .number()
    .int()
    .min(1)
    .max(7 * 86_400)
    .optional(),
  /** Most log a job keeps (all steps), in MiB; the rest is dropped with a note. Default 128. */
  maxLogMiB: z.number().int().min(1).max(100_000).optional(),
  /** Most log one step keeps, in MiB. Default 100. */
  maxStepLogMiB: z.number().int().min(1).max(100_000).optional(),
});
export type PoolSettings = z.output<typeof poolSettings>;
export const createPoolRequest = z.object({
  name,
  settings: poolSettings.default({ allowDockerSocket: false }),
});
export const poolView = z.object({
  name: z.string(),
  settings: poolSettings,
  createdAt: z.string(),
  agents: z.object({ online: z.number(), busy: z.number(), offline: z.number() }),
  queued: z.number(),
});
export type PoolView = z.infer<typeof poolView>;
/** An agent as `GET /agents` lists it (capabilities only for admins and `agents:read`). */
export const agentView = z.object({
  name: z.string(),
  pool: z.string(),
  capabilities: z.record(z.string(), z.string()),
  busy: z.boolean(),
});
export type AgentView = z.infer<typeof agentView>;
export const drainAgentResponse = z.object({ busy: z.boolean() });

// ── agents ─────────────────────────────────────────────────────────────────────
export const registerAgentRequest = z.object({
  pool: name,
  name,
  /** Ed25519 public key, SPKI PEM; the private half never leaves the agent. */
  publicKey: z.string().min(40).max(2000),
  /** Reuse a name that is taken: the old registration's key is revoked. */
  replace: z.boolean().default(false),
});
export const registerAgentResponse = z.object({ agentId: z.string(), name: z.string(), pool: z.string() });

/** A JWT signed with the agent's key (EdDSA): iss/sub = agent id, aud = 'slipway', jti, exp ≤ 5 min. */
export const agentTokenRequest = z.object({ assertion: z.string().min(20).max(4000) });
export const agentTokenResponse = z.object({ accessToken: z.string(), expiresAt: z.string() });

export const openSessionRequest = z.object({
  capabilities: z.record(z.string(), z.string().max(10_000)).default({}),
  version: z.string().max(40),
  /** Set by fleet agents: the agent serves only the job its ticket is bound to. */
  jobId: z.string().optional(),
});
export const openSessionResponse = z.object({ sessionId: z.string(), pollTimeoutMs: z.number() });

export const pollRequest = z.object({ sessionId: z.string() });
export const jobOffer = z.object({ jobId: z.string(), runId: z.string(), name: z.string() });
export type JobOffer = z.infer<typeof jobOffer>;

export const claimRequest = z.object({ sessionId: z.string() });

export const secretValue = z.string().min(4, 'secrets must be at least 4 characters');

const dependencyState = z.object({
  result: taskResult,
  outputs: z.record(z.string(), z.string()).optional(),
});

// The job the agent runs: the plan of one job plus everything it needs and nothing more.
export const jobSpec = z.object({
  jobId: z.string(),
  runId: z.string(),
  runNumber: z.number(),
  attempt: z.number(),
  epoch: z.number(),
  leaseToken: z.string(),
  /** What the job's scripts get as SLIPWAY_JOB_TOKEN: enough to read this run's workspace, nothing more. */
  stepToken: z.string(),
  leaseTtlMs: z.number(),
  pipelineFile: z.string(),
  /** The job's plan, checked again here: the agent runs only what it understands. */
  plan: jobPlan,
  /** Run-level variables (`--var`) that override the plan's. */
  variables: z.record(z.string(), z.string()),
  /** Secrets by name, in clear: they exist only in this response and the agent's memory. */
  secrets: z.record(z.string(), z.string()),
  hasWorkspace: z.boolean(),
  /** Results of the jobs this one depends on, for conditions like `succeeded('build')`. */
  dependencies: z.record(z.string(), dependencyState),
  /** Jobs of the stages this job's stage depends on: `stageDependencies.<stage>.<job>`. */
  stageDependencies: z.record(z.string(), z.record(z.string(), dependencyState)).default({}),
  /** `name:` formatted (`$(Date:yyyyMMdd)$(Rev:.r)` by default); Build.BuildNumber. */
  buildNumber: z.string(),
});
export type JobSpec = z.infer<typeof jobSpec>;

export const heartbeatRequest = z.object({
  epoch: z.number().int(),
  /** Hold the request up to this long unless the job is canceled: cancellation arrives at once. */
  waitMs: z.number().int().min(0).max(30_000).default(0),
});
export const heartbeatResponse = z.object({ cancel: z.boolean(), leaseExpiresAt: z.string() });

export const stepUpdateRequest = z.object({
  epoch: z.number().int(),
  index: z.number().int().min(0),
  state: reportedStepState,
  result: taskResult.optional(),
  /** Why the result is what it is: `exit code 2`, `timed out after 1m`, … */
  reason: z.string().max(1000).optional(),
  /** The display name with its macros expanded, sent when the step starts. */
  name: z.string().max(500).optional(),
});

export const appendLogRequest = z.object({
  epoch: z.number().int(),
  /** -1: job-level lines (setup, teardown); otherwise the step index. */
  step: z.number().int().min(-1),
  /** Byte offset of `data` in this step's log: resending a chunk is harmless. */
  offset: z.number().int().min(0),
  data: z.string().max(1024 * 1024),
});
/** Most bytes of log text in one append; agents split longer output. */
export const MAX_LOG_CHUNK_BYTES = 1024 * 1024;
export const appendLogResponse = z.object({
  length: z.number(),
  /** The pool's log cap was reached: what follows is dropped, and the log says where it was cut. */
  truncated: z.boolean().optional(),
});

/** One published test run (PublishTestResults@2): totals, duration and the failures with their messages. */
export const testRunView = z.object({
  title: z.string().max(500),
  format: z.string().max(50),
  files: z.array(z.string().max(1000)).max(1000),
  total: z.number().int().min(0),
  passed: z.number().int().min(0),
  failed: z.number().int().min(0),
  skipped: z.number().int().min(0),
  durationMs: z.number().min(0),
  failures: z.array(z.object({ name: z.string().max(1000), message: z.string().max(4000) })).max(100),
});
export type TestRunView = z.infer<typeof testRunView>;

export const completeJobRequest = z.object({
  epoch: z.number().int(),
  result: taskResult,
  reason: z.string().max(2000).optional(),
  /** Output variables (`<step>.<name>`) set with `##vso[task.setvariable …;isOutput=true]`. */
  outputs: z.record(z.string().max(200), z.string().max(64 * 1024)).default({}),
  /** `##vso[build.updatebuildnumber]`. */
  buildNumber: z.string().max(255).optional(),
  /** `##vso[build.addbuildtag]`. */
  tags: z.array(z.string().max(255)).max(100).default([]),
  /** Optional. Test runs the job's steps published. */
  testRuns: z.array(testRunView).max(100).optional(),
});

// ── runs ───────────────────────────────────────────────────────────────────────
export const createRunRequest = z.object({
  pipeline: z.object({ file: z.string().min(1).max(500), content: z.string().max(1024 * 1024) }),
  workspaceId: z
    .string()
    .regex(/^[a-f0-9]{64}$/)
    .optional(),
  variables: z.record(z.string(), z.string()).default({}),
  secrets: z.record(z.string(), secretValue).default({}),
  /** Values for the pipeline's `parameters`. */
  parameters: z.record(z.string(), z.string().max(64 * 1024)).default({}),
  /** Template files the pipeline includes, by path relative to the workspace root. */
  templates: z.record(z.string().max(500), z.string().max(1024 * 1024)).default({}),
  /** What the client knows of the workspace's source: the `Build.Source*` and `Build.Repository.Name` variables. */
  source: z
    .object({
      branch: z
        .string()
        .regex(/^refs\//)
        .max(255)
        .optional(),
      commit: z
        .string()
        .regex(/^[0-9a-f]{40,64}$/)
        .optional(),
      repository: z.string().min(1).max(255).optional(),
      defaultBranch: z
        .string()
        .regex(/^refs\//)
        .max(255)
        .optional(),
    })
    .optional(),
  /** The client vouches for nothing in this run: it writes no cache entry a trusted run reads. */
  untrusted: z.boolean().default(false),
  /** A `task:` Slipway does not have becomes a step that fails saying so, instead of refusing the run. */
  allowUnsupportedTasks: z.boolean().default(false),
});
export type CreateRunRequest = z.input<typeof createRunRequest>;
export type CreateRunBody = z.output<typeof createRunRequest>;
export const uploadWorkspaceResponse = z.object({ id: z.string(), size: z.number() });
export const artifactView = z.object({ name: z.string(), size: z.number() });

export const stepView = z.object({
  index: z.number(),
  name: z.string(),
  state: stepState,
  result: taskResult.nullable(),
  reason: z.string().nullable(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});
export const jobView = z.object({
  id: z.string(),
  name: z.string(),
  displayName: z.string(),
  status: jobStatus,
  result: taskResult.nullable(),
  reason: z.string().nullable(),
  attempt: z.number(),
  agentName: z.string().nullable(),
  dependsOn: z.array(z.string()),
  outputs: z.record(z.string(), z.string()),
  /** Optional (older servers send none). Test runs of the finished attempt. */
  testRuns: z.array(testRunView).optional(),
  queuedAt: z.string().nullable(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  steps: z.array(stepView),
});
export type JobView = z.infer<typeof jobView>;
export const runView = z.object({
  id: z.string(),
  number: z.number(),
  pipelineFile: z.string(),
  status: runStatus,
  result: taskResult.nullable(),
  /** `##vso[build.updatebuildnumber]`, or the run number. */
  buildNumber: z.string(),
  tags: z.array(z.string()),
  source: z.object({
    branch: z.string().optional(),
    commit: z.string().optional(),
    repository: z.string().optional(),
    defaultBranch: z.string().optional(),
  }),
  reason: buildReason,
  untrusted: z.boolean(),
  createdAt: z.string(),
  finishedAt: z.string().nullable(),
  jobs: z.array(jobView),
});
export type RunView = z.infer<typeof runView>;

// ── the run's event feed ───────────────────────────────────────────────────────
/** kind=run: the run was queued (with its number), started, or finished (with its result). */
export const runEventData = z.discriminatedUnion('status', [
  z.object({ status: z.literal('queued'), number: z.number() }),
  z.object({ status: z.literal('running') }),
  z.object({ status: z.literal('completed'), result: taskResult }),
]);
export type RunEventData = z.infer<typeof runEventData>;

/** kind=job: one attempt of a job moving through the queue. */
export const jobEventData = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('queued'),
    /** The job is queued again after its agent was lost; `reason` says how. */
    retry: z.literal(true).optional(),
    reason: z.string().optional(),
  }),
  /** Queued, but nothing serves it yet: `reason` says what it waits for. */
  z.object({ status: z.literal('waiting'), reason: z.string() }),
  z.object({ status: z.literal('running'), agent: z.string() }),
  z.object({ status: z.literal('completed'), result: taskResult, reason: z.string().nullable() }),
]);
export type JobEventData = z.infer<typeof jobEventData>;

/** kind=step: a step started or ended, with its display name (macros expanded). */
export const stepEventData = z.object({
  status: reportedStepState,
  name: z.string(),
  result: taskResult.nullable(),
  reason: z.string().nullable(),
});
export type StepEventData = z.infer<typeof stepEventData>;

/** kind=log: log text of a step (`step` ≥ 0) or of the job's setup and teardown (`step` = -1). */
export const logEventData = z.object({ text: z.string() });
export type LogEventData = z.infer<typeof logEventData>;

const eventHead = {
  runId: z.string(),
  seq: z.number(),
  at: z.string(),
  jobId: z.string().nullable(),
  jobName: z.string().nullable(),
  attempt: z.number().nullable(),
  step: z.number().nullable(),
};
/** The ordered feed of a run: status changes and log text, numbered so a client resumes by `seq`. */
export const runEvent = z.discriminatedUnion('kind', [
  z.object({ ...eventHead, kind: z.literal('run'), data: runEventData }),
  z.object({ ...eventHead, kind: z.literal('job'), data: jobEventData }),
  z.object({ ...eventHead, kind: z.literal('step'), data: stepEventData }),
  z.object({ ...eventHead, kind: z.literal('log'), data: logEventData }),
]);
export type RunEvent = z.infer<typeof runEvent>;
export type RunEventKind = RunEvent['kind'];
export const runEventsResponse = z.object({ events: z.array(runEvent), next: z.number(), done: z.boolean() });

export const errorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

// ── fleets ─────────────────────────────────────────────────────────────────────
export const createTicketRequest = z.object({
  /** The agent name the ticket registers (`<pool>-<n>` for fleets). */
  name,
  /** Bind the agent to this one job: it may claim nothing else. */
  jobId: z.string().optional(),
  ttlSeconds: z.number().int().min(10).max(3600).default(300),
});
export const createTicketResponse = z.object({ ticket: z.string(), expiresAt: z.string() });

/** A fleet announces itself every few seconds; jobs only it could serve are then not impossible. */
export const fleetHeartbeatRequest = z.object({
  id: z.string().min(1).max(100),
  /** Capabilities of the agents this fleet starts. */
  capabilities: z.record(z.string(), z.string()).default({}),
});

export const failJobRequest = z.object({ reason: z.string().min(1).max(2000) });

export const queuedJobView = z.object({
  jobId: z.string(),
  runId: z.string(),
  name: z.string(),
  /** The job's own image, or null for the pool's default. */
  image: z.string().nullable(),
  services: z.record(
    z.string(),
    z.object({ image: z.string(), env: z.record(z.string(), z.string()), ports: z.array(z.string()) }),
  ),
  docker: dockerMode,
  /** The job container's own environment (`container: { env }`). */
  env: z.record(z.string(), z.string()).default({}),
  /** The job's demands, as written: a fleet starts agents only for jobs its agents could meet. */
  demands: z.array(z.string()).default([]),
  queuedAt: z.string().nullable(),
});
export type QueuedJobView = z.infer<typeof queuedJobView>;
export const poolAgentView = z.object({
  name: z.string(),
  busy: z.boolean(),
  draining: z.boolean(),
  boundJobId: z.string().nullable(),
  /** Waiting in a poll right now. */
  polling: z.boolean(),
});
export const poolDemandResponse = z.object({
  queued: z.array(queuedJobView),
  agents: z.array(poolAgentView),
  /** Jobs running in the pool now, by id: a fleet keeps their containers alive. */
  running: z.array(z.string()),
});
export type PoolDemand = z.infer<typeof poolDemandResponse>;

// ── query strings of the agent and fleet routes ────────────────────────────────
/**
 * `GET /pools/:pool/demand?waitMs=`: how long to wait for work when none is queued, clamped to
 * 0–30 s; anything that is not a number means 0 (fleets of every version send it).
 */
export const poolDemandQuery = z.object({
  waitMs: z.coerce
    .number()
    .catch(0)
    .transform((ms) => Math.min(Math.max(ms, 0), 30_000)),
});
/** `GET /agents?pool=`: only that pool's agents. */
export const listAgentsQuery = z.object({ pool: z.string().optional() });
