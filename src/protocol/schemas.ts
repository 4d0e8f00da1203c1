/**
 * Bodies exchanged between the server, the agent and the CLI. Both ends validate with these
 * schemas, so a field renamed on one side fails loudly on the other.
 */
import { z } from 'zod';
// The plan's schema module alone: the pipeline's index would load its YAML reader into every client.
import { buildReason, containerOptions, dockerMode, jobPlan, taskResult } from '../pipeline/plan-schema.js';

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
export const tokenScope = z.enum([
  'admin',
  'agent:register',
  'runs:write',
  'runs:read',
  'agents:read',
  /** Scrapes `/metrics` (from anywhere; loopback needs no token unless configured otherwise). */
  'metrics:read',
]);
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
  /** Allow `docker: dind` jobs: a Docker engine of the job's own, in a sidecar with broad rights. */
  allowDind: z.boolean().optional(),
  /**
   * Allow `docker: rootless` jobs: a daemonless builder (buildah) in the job's container, which
   * then runs without a seccomp filter and keeps CAP_SETFCAP to map its user namespace.
   */
  allowRootlessBuilds: z.boolean().optional(),
  /** Options of the engine a `docker: dind` job gets. */
  dockerEngine: z
    .object({
      registryMirrors: z.array(z.string().url().max(500)).max(20).optional(),
      insecureRegistries: z
        .array(
          z
            .string()
            .regex(/^[A-Za-z0-9.:[\]/-]+$/, 'a host[:port] or CIDR')
            .max(300),
        )
        .max(20)
        .optional(),
      /** MTU of the job's network and of the engine's networks (as AGENT_MTU_VALUE in Azure Pipelines). */
      mtu: z.number().int().min(576).max(65_535).optional(),
      storageDriver: z
        .string()
        .regex(/^[a-z0-9-]+$/, 'a storage driver name such as overlay2 or vfs')
        .optional(),
    })
    .optional(),
});
export type PoolSettings = z.output<typeof poolSettings>;
export const createPoolRequest = z.object({
  name,
  settings: poolSettings.default({ allowDockerSocket: false, allowDind: false }),
});
/** `PATCH /pools/:name`: the settings given replace those of the pool; the rest stay. */
export const updatePoolRequest = z.object({
  settings: poolSettings
    .omit({ allowDockerSocket: true })
    .partial()
    .extend({ allowDockerSocket: z.boolean().optional() }),
});
export type UpdatePoolRequest = z.input<typeof updatePoolRequest>;
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
  // What `slipway agents` and the UI show (see "views" below).
  id: z.string(),
  version: z.string().nullable(),
  state: z.enum(['idle', 'busy', 'draining', 'offline']),
  currentJob: z
    .object({ id: z.string(), name: z.string(), runId: z.string(), runNumber: z.number() })
    .nullable(),
  lastSeenAt: z.string().nullable(),
  /** Started for one job (a fleet's ticket): it serves nothing else. */
  boundJobId: z.string().nullable(),
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
export const registerAgentResponse = z.object({
  agentId: z.string(),
  name: z.string(),
  pool: z.string(),
  /** The job a fleet's ticket was made for: its agent claims it at once, without a poll. */
  boundJobId: z.string().optional(),
});

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

export const pollRequest = z.object({
  sessionId: z.string(),
  /**
   * Claim the job the poll finds and answer with its spec (`pollAnswer`): one round trip per job
   * instead of two. Older agents leave it out and claim the offer themselves.
   */
  claim: z.boolean().optional(),
});
export const jobOffer = z.object({ jobId: z.string(), runId: z.string(), name: z.string() });
export type JobOffer = z.infer<typeof jobOffer>;

export const claimRequest = z.object({ sessionId: z.string() });

export const secretValue = z.string().min(4, 'secrets must be at least 4 characters');

// ── variable groups ────────────────────────────────────────────────────────────
const variableName = z.string().regex(/^[A-Za-z0-9_.-]{1,200}$/, "letters, digits, '.', '_' and '-'");
/** As Azure allows them: words with spaces between; unique whatever the case. */
export const variableGroupName = z
  .string()
  .max(100)
  .regex(/^[A-Za-z0-9_.-]+( [A-Za-z0-9_.-]+)*$/, "letters, digits, spaces, '.', '_' and '-'");
/** Pools whose jobs may read the group; `*` for every pool. None: no job may, until one is named. */
const groupPools = z
  .array(z.string().regex(/^(\*|[A-Za-z0-9][A-Za-z0-9_.-]{0,99})$/, "a pool name or '*'"))
  .max(100);
/** Repositories the coordinator mirrors (`slipway repo add` names) whose runs may read a group. */
const groupRepositories = z
  .array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'a repository name'))
  .max(100);
const groupValues = z.record(variableName, z.string().max(64 * 1024));
export const createVariableGroupRequest = z.object({
  name: variableGroupName,
  description: z.string().max(1000).default(''),
  pools: groupPools.default([]),
  repositories: groupRepositories.default([]),
  variables: groupValues.default({}),
  secrets: z.record(variableName, secretValue).default({}),
});
/** Sets the values and secrets given, removes those in `remove`; `pools` and `description` replace. */
export const updateVariableGroupRequest = z.object({
  description: z.string().max(1000).optional(),
  pools: groupPools.optional(),
  repositories: groupRepositories.optional(),
  variables: groupValues.default({}),
  secrets: z.record(variableName, secretValue).default({}),
  remove: z.array(variableName).max(1000).default([]),
});
/** A group as the API shows it: secrets by name only, never their values. */
export const variableGroupView = z.object({
  name: z.string(),
  description: z.string(),
  pools: z.array(z.string()),
  /** Absent from older servers. */
  repositories: z.array(z.string()).default([]),
  variables: z.record(z.string(), z.string()),
  secretNames: z.array(z.string()),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type VariableGroupView = z.infer<typeof variableGroupView>;

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
  /** The run came from a source nobody vouched for (a fork's pull request): it has no secrets. */
  untrusted: z.boolean().default(false),
  /** Results of the jobs this one depends on, for conditions like `succeeded('build')`. */
  dependencies: z.record(z.string(), dependencyState),
  /** Jobs of the stages this job's stage depends on: `stageDependencies.<stage>.<job>`. */
  stageDependencies: z.record(z.string(), z.record(z.string(), dependencyState)).default({}),
  /** `name:` formatted (`$(Date:yyyyMMdd)$(Rev:.r)` by default); Build.BuildNumber. */
  buildNumber: z.string(),
});
export type JobSpec = z.infer<typeof jobSpec>;

/**
 * A ticket's agent starts in one request instead of four (register, token, session, claim): the
 * ticket is the authority for all of them, so the answer carries the access token, the session
 * and, for a ticket bound to a job, that job already claimed. The key still signs every renewal.
 */
export const startAgentRequest = registerAgentRequest.omit({ replace: true }).extend({
  capabilities: openSessionRequest.shape.capabilities,
  version: openSessionRequest.shape.version,
});
export const startAgentResponse = registerAgentResponse.extend({
  accessToken: z.string(),
  expiresAt: z.string(),
  sessionId: z.string(),
  pollTimeoutMs: z.number(),
  /** The bound job, claimed; absent when it could not be (gone, or a claim to retry by itself). */
  spec: jobSpec.optional(),
});
export type StartAgentAnswer = z.infer<typeof startAgentResponse>;

/** A poll's answer: the offer, and with `claim: true` the job already claimed for the agent. */
export const pollAnswer = jobOffer.extend({ spec: jobSpec.optional() });
export type PollAnswer = z.infer<typeof pollAnswer>;

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

/**
 * Where an append's bytes go, in its query: the body is the raw log bytes themselves
 * (`application/octet-stream`), so neither end encodes or decodes them.
 */
export const appendLogQuery = z.object({
  epoch: z.coerce.number().int(),
  /** -1: job-level lines (setup, teardown); otherwise the step index. */
  step: z.coerce.number().int().min(-1),
  /** Byte offset of the body in this step's log: resending a chunk is harmless. */
  offset: z.coerce.number().int().min(0),
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

const coverageCounter = z.object({ covered: z.number().int().min(0), total: z.number().int().min(0) });
/** One coverage summary (PublishCodeCoverageResults@1/2): lines and branches covered of total. */
export const coverageView = z.object({
  tool: z.enum(['Cobertura', 'JaCoCo']),
  file: z.string().max(1000),
  lines: coverageCounter,
  branches: coverageCounter,
  /** The run artifact that keeps the file. */
  artifact: z.string().max(255).optional(),
});
export type CoverageView = z.infer<typeof coverageView>;

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
  /** Optional. Coverage summaries the job's steps published. */
  coverage: z.array(coverageView).max(100).optional(),
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
  /** Optional (older servers send none). Coverage summaries of the finished attempt. */
  coverage: z.array(coverageView).optional(),
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
  /** When its first job started; null while it waits. */
  startedAt: z.string().nullable(),
  /** Started to finished (queued to finished when nothing ever started); null until it finishes. */
  durationSeconds: z.number().nullable(),
  /** Set on a re-run: the run it repeats, and whether only what failed was re-run. */
  rerunOf: z.object({ id: z.string(), number: z.number(), failedOnly: z.boolean() }).nullable(),
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

/**
 * The raw feed (`GET /runs/:id/stream?after=N`): the same events as a stream of frames, each a
 * line of JSON; a log frame's line is followed by `bytes` bytes of log as the agent sent them.
 * The last frame says where to go on and whether the run's feed has ended.
 */
export const feedFrame = z.union([
  z.object({ ...eventHead, kind: z.literal('log'), bytes: z.number().int().min(0) }),
  runEvent,
  z.object({ next: z.number(), done: z.boolean() }),
]);
export type FeedFrame = z.infer<typeof feedFrame>;
/** Longest the raw feed waits for news before its last frame; the client asks again from `next`. */
export const FEED_STREAM_WAIT_MS = 25_000;

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
  /** What the fleet runs now and its recent scale events (fleets before this field send none). */
  status: z.lazy(() => fleetStatus).optional(),
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
    z.object({
      image: z.string(),
      env: z.record(z.string(), z.string()),
      ports: z.array(z.string()),
      /** What the service's `options:` asked for (the safe ones; the rest were refused). */
      options: containerOptions.optional(),
    }),
  ),
  docker: dockerMode,
  /** The job container's own environment (`container: { env }`). */
  env: z.record(z.string(), z.string()).default({}),
  /** What the job container's `options:` asked for. */
  options: containerOptions.optional(),
  /** The job's demands, as written: a fleet starts agents only for jobs its agents could meet. */
  demands: z.array(z.string()).default([]),
  queuedAt: z.string().nullable(),
  /** The job's `timeoutInMinutes` (0: none): a Kubernetes fleet bounds the job's pod by it. */
  timeoutInMinutes: z.number().nullable().optional(),
});
export type QueuedJobView = z.infer<typeof queuedJobView>;
export type ContainerOptions = z.infer<typeof containerOptions>;
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

// ── repositories (sources) ──────────────────────────────────────────────────────
export const repositoryName = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/,
    'letters, digits, ".", "_" and "-", starting with a letter or digit',
  );
export const forgeName = z.enum(['github', 'gitlab', 'gitea']);
export const addRepositoryRequest = z.object({
  name: repositoryName,
  url: z.string().min(1).max(2000),
  /** The pipeline file's path in the repository. */
  pipelineFile: z.string().min(1).max(500).default('azure-pipelines.yml'),
  defaultBranch: z.string().min(1).max(255).default('main'),
  /** Poll interval in seconds; none: webhooks only. */
  pollSeconds: z.number().int().min(1).max(86_400).optional(),
  /** An HTTPS token (`user:token` or the token alone) or an SSH private key, as the file holds it. */
  credential: z
    .string()
    .min(1)
    .max(64 * 1024)
    .optional(),
  /** The token for commit statuses; with it, runs report back to the forge. */
  statusToken: z.string().min(1).max(4096).optional(),
  forge: forgeName.optional(),
  /** The forge's API root, when the URL does not tell it (self-hosted GitLab, Gitea). */
  forgeApiUrl: z.string().url().max(2000).optional(),
  /** `owner/repo` (or GitLab's project path) for statuses; default from the URL. */
  forgeProject: z.string().min(1).max(500).optional(),
  /** Secret variables trusted runs get (never a fork's pull request). */
  secrets: z
    .record(
      z.string().min(1).max(200),
      z
        .string()
        .min(4)
        .max(64 * 1024),
    )
    .default({}),
});
export type AddRepositoryRequest = z.input<typeof addRepositoryRequest>;
export const repositoryView = z.object({
  name: z.string(),
  url: z.string(),
  pipelineFile: z.string(),
  defaultBranch: z.string(),
  pollSeconds: z.number().nullable(),
  credential: z.enum(['none', 'token', 'ssh-key']),
  statuses: forgeName.nullable(),
  secrets: z.array(z.string()),
  createdAt: z.string(),
});
export type RepositoryView = z.infer<typeof repositoryView>;
/** The answer to `add`: the only time the webhook secret is shown. */
export const addRepositoryResponse = z.object({
  repository: repositoryView,
  webhookSecret: z.string(),
  /** Paths of the webhook endpoints, per forge (relative to the server's URL). */
  hooks: z.object({ github: z.string(), gitlab: z.string(), gitea: z.string() }),
});
export const repositoryErrorView = z.object({
  ref: z.string().nullable(),
  commit: z.string().nullable(),
  message: z.string(),
  at: z.string(),
});
export type RepositoryErrorView = z.infer<typeof repositoryErrorView>;
export const repositoryRunRequest = z
  .object({
    /** A branch name (`main`) or full ref; default: the repository's default branch. */
    branch: z.string().min(1).max(255).optional(),
    commit: z
      .string()
      .regex(/^[0-9a-f]{7,64}$/, 'a commit id in hex')
      .optional(),
    variables: z.record(z.string(), z.string()).default({}),
  })
  .refine((r) => !(r.branch && r.commit), {
    message: 'give a branch or a commit, not both',
    path: ['commit'],
  });
export type RepositoryRunRequest = z.input<typeof repositoryRunRequest>;
export const hookResponse = z.object({
  /** False for a replayed delivery (its id was seen before): nothing is queued twice. */
  queued: z.boolean(),
  delivery: z.string(),
});

// ── views: the runs list, the queue, agents and fleets, re-runs ────────────────
/** `status=` of `GET /runs`: a run status, or a result (`failed` is a finished run that failed). */
export const runListStatus = z.enum([...runStatus.options, ...taskResult.options]);
export type RunListStatus = z.infer<typeof runListStatus>;
/** Most runs in one page of `GET /runs`. */
export const MAX_RUNS_PAGE = 500;
/**
 * `GET /runs?limit=&before=&status=&q=`: newest first; `before` is a run number (the next page
 * starts below the last number seen), `q` is text found in the pipeline file, repository,
 * branch or build number.
 */
export const listRunsQuery = z.object({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .default(50)
    .transform((n) => Math.min(n, MAX_RUNS_PAGE)),
  before: z.coerce.number().int().min(1).optional(),
  status: runListStatus.optional(),
  q: z.string().trim().min(1).max(200).optional(),
});
/** What a client asks `GET /runs` for (the query string's fields). */
export type ListRunsQuery = {
  limit?: number;
  before?: number;
  status?: RunListStatus;
  q?: string;
};

/** `POST /runs/:id/rerun`: a new run of the same plan, workspace, variables and (sealed) secrets. */
export const rerunRequest = z.object({
  /**
   * Re-run only the jobs that failed or were canceled, and every job that depends on one of
   * them; the other jobs keep their result and outputs from the run repeated.
   */
  failedOnly: z.boolean().default(false),
});

/**
 * Why a queued job has not started: `ready` (an idle agent fits; it is being handed over),
 * `waiting` (matching agents are busy, still starting, or the fleet is at its maximum),
 * `unserved` (nothing serves the pool yet; it fails after the pool's queue timeout),
 * `impossible` (nothing could ever run it; the scheduler fails it on its next look).
 */
export const queueKind = z.enum(['ready', 'waiting', 'unserved', 'impossible']);
export type QueueKind = z.infer<typeof queueKind>;
export const queueEntry = z.object({
  jobId: z.string(),
  jobName: z.string(),
  displayName: z.string(),
  runId: z.string(),
  runNumber: z.number(),
  pipelineFile: z.string(),
  pool: z.string(),
  /** The job's demands as written (`docker`, `node -equals 20`). */
  demands: z.array(z.string()),
  /** The job's own image, when it runs in a container. */
  image: z.string().nullable(),
  kind: queueKind,
  /** The scheduler's words for why it waits; null when it is `ready`. */
  reason: z.string().nullable(),
  queuedAt: z.string(),
  waitedSeconds: z.number(),
  /** The job is queued again after its agent was lost (attempt > 0). */
  attempt: z.number(),
});
export type QueueEntry = z.infer<typeof queueEntry>;
/** A job that failed without starting: nothing could serve its demands, or no agent could be started. */
export const unservedJob = z.object({
  jobId: z.string(),
  jobName: z.string(),
  runId: z.string(),
  runNumber: z.number(),
  pool: z.string(),
  demands: z.array(z.string()),
  reason: z.string().nullable(),
  failedAt: z.string(),
});
export type UnservedJob = z.infer<typeof unservedJob>;
/** How far back `GET /queue` lists jobs that failed without starting. */
export const UNSERVED_WINDOW_MS = 24 * 3600_000;
export const queueView = z.object({
  /** Oldest first, as the dispatcher hands them out. */
  queued: z.array(queueEntry),
  /** Newest first, from the last 24 hours, at most 50. */
  failed: z.array(unservedJob),
});
export type QueueView = z.infer<typeof queueView>;
/** `GET /queue?pool=` and `GET /fleets?pool=`: only that pool. */
export const poolQuery = z.object({ pool: z.string().min(1).max(64).optional() });

/** One thing a fleet did to its containers. */
export const fleetScaleEvent = z.object({
  at: z.string(),
  kind: z.enum(['started', 'exited', 'scaled-down', 'start-failed']),
  agent: z.string().max(100),
  /** Set for a container started for one job. */
  jobId: z.string().max(100).optional(),
  detail: z.string().max(500).optional(),
});
export type FleetScaleEvent = z.infer<typeof fleetScaleEvent>;
/** Most scale events a fleet reports (the newest). */
export const MAX_FLEET_EVENTS = 20;
/** Most custom images a fleet reports warm agents for. */
export const MAX_FLEET_IMAGES = 50;
const gaugeCount = z.number().int().min(0).max(1_000_000);
/** What a fleet reports with each heartbeat. */
export const fleetStatus = z.object({
  /** Agent containers it runs now: starting, idle and busy. */
  containers: gaugeCount,
  starting: gaugeCount,
  idle: gaugeCount,
  busy: gaugeCount,
  /** Idle agents it keeps warm. */
  minIdle: gaugeCount,
  /** Most containers at once. */
  max: gaugeCount,
  /** The image warm agents run. */
  image: z.string().max(500).nullable(),
  /** Idle agents it keeps for each recently used custom image; absent from older fleets. */
  warmPerImage: gaugeCount.optional(),
  /**
   * Custom images it keeps warm agents for (recently used, most recent first), with its warm
   * agents of each; absent from older fleets.
   */
  warmImages: z
    .array(z.object({ image: z.string().max(500), idle: gaugeCount, starting: gaugeCount }))
    .max(MAX_FLEET_IMAGES)
    .optional(),
  /** Since the fleet started, by kind (counters for `/metrics`). */
  totals: z.object({
    started: gaugeCount,
    exited: gaugeCount,
    scaledDown: gaugeCount,
    startFailed: gaugeCount,
  }),
  /** The newest scale events, oldest first. */
  events: z.array(fleetScaleEvent).max(MAX_FLEET_EVENTS),
});
export type FleetStatus = z.infer<typeof fleetStatus>;
export const fleetView = z.object({
  pool: z.string(),
  id: z.string(),
  lastSeenAt: z.string(),
  /** Seen recently enough to count as serving its pool. */
  live: z.boolean(),
  capabilities: z.record(z.string(), z.string()),
  status: fleetStatus.nullable(),
});
export type FleetView = z.infer<typeof fleetView>;
// ── caches ───────────────────────────────────────────────────────────────────────
/** A resolved cache key: segments joined by `|`. */
const cacheKey = z.string().min(1).max(2048);
const sha256 = z.string().regex(/^[a-f0-9]{64}$/);
/** `POST /jobs/:id/caches/lookup`: the key, then the restore keys (prefixes), in order. */
export const cacheLookupRequest = z.object({ keys: z.array(cacheKey).min(1).max(20) });
export const cacheEntryView = z.object({
  id: z.string(),
  key: z.string(),
  size: z.number().int().min(0),
  sha256,
  /** The first key matched exactly (a restore key never does). */
  exact: z.boolean(),
});
export const cacheLookupResponse = z.object({ entry: cacheEntryView.nullable() });
/** `POST /jobs/:id/caches/reserve`: asked before an upload, so nothing is sent in vain. */
export const cacheReserveRequest = z.object({ key: cacheKey, size: z.number().int().min(0) });
export const cacheReserveResponse = z.object({
  /** The job's scope has this key already: entries are immutable, nothing is saved. */
  exists: z.boolean(),
});
/** `PUT /jobs/:id/caches?key=&sha256=&size=` with the tar archive as the body. */
export const cacheSaveQuery = z.object({ key: cacheKey, sha256, size: z.coerce.number().int().min(0) });
export const cacheSaveResponse = z.object({
  saved: z.boolean(),
  /** Entries evicted (least recently used first) to keep the total under the server's limit. */
  evicted: z.number().int().min(0),
});
/** The content type of a cache archive on the wire (uncompressed tar). */
export const CACHE_ARCHIVE_TYPE = 'application/x-tar';
