// The `slipway` command: the composition root of every process the CLI starts.
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_DATA_DIR, DEFAULT_PORT } from '../shared/data-dir.js';
import { SLIPWAY_VERSION } from '../shared/version.js';
import type { ClientSettings } from './client-config.js';
import type { FleetFlags } from './commands/fleet.js';
import { EXIT } from './exit-codes.js';

const env = process.env;
/** Runs inside a CI system (`CI` set, as they all set it, and not to `0` or `false`). */
const inCi = Boolean(env.CI) && !['0', 'false'].includes(String(env.CI).toLowerCase());

// Commands load what they need when they run: `slipway run` never pays for the server's,
// the fleet's or Docker's modules (startup time is part of every command's latency).
const admin = () => import('./commands/admin.js');
const out = (s: string) => void process.stdout.write(s);
const err = (s: string) => void process.stderr.write(s);

function client(o: { data?: string }): ClientSettings {
  return { url: env.SLIPWAY_URL, token: env.SLIPWAY_TOKEN, dataDir: o.data ?? env.SLIPWAY_DATA };
}

/** Runs a command body and turns its outcome into the process exit code. */
function act<A extends unknown[]>(fn: (...args: A) => Promise<number>) {
  return async (...args: A) => {
    try {
      process.exitCode = await fn(...args);
    } catch (e) {
      const { describeError, exitCodeFor } = await import('./error-report.js');
      err(`slipway: ${describeError(e)}\n`);
      process.exitCode = exitCodeFor(e);
    }
  };
}

function collect(value: string, previous: Record<string, string>): Record<string, string> {
  const eq = value.indexOf('=');
  // Commander reports this as a usage error naming the flag (exit 2 through exitOverride).
  if (eq <= 0) throw new InvalidArgumentError('expected NAME=VALUE');
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

const listOf = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];
/** A size in GiB for the cache flags: a positive number (fractions allowed). */
function gib(value: string): number {
  const n = Number(value);
  if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError('expected a positive number of GiB');
  return n;
}
/** `--vm-image-pool NAME=POOL[:IMAGE]`, for `slipway server` and `slipway up` alike. */
const vmImagePoolOption = () =>
  new Option(
    '--vm-image-pool <name=pool[:image]>',
    'run `pool: { vmImage: name }` jobs in a pool, on an image when given (repeatable; default: ' +
      'Linux images in pool default, Windows and macOS refused)',
  )
    .argParser((value: string, previous: Record<string, string>) => {
      const next = collect(value, previous);
      const pool = value.slice(value.indexOf('=') + 1);
      if (!/^[^:\s]+(:\S+)?$/.test(pool))
        throw new InvalidArgumentError('expected NAME=POOL or NAME=POOL:IMAGE');
      return next;
    })
    .default({});

const dataOption = () => new Option('--data <dir>', 'data directory of the local server').default(undefined);

const databaseOption = () =>
  new Option(
    '--database <url>',
    'where the store lives: sqlite:<path> or postgres://user:pass@host:port/db[?pool_max=10&statement_timeout_ms=30000] (default: sqlite:<data>/slipway.db)',
  ).default(env.SLIPWAY_DATABASE || undefined); // an empty variable means the default

const logLevelOption = () =>
  new Option('--log-level <level>', 'log level')
    .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default(env.SLIPWAY_LOG_LEVEL ?? 'info');

const program = new Command('slipway')
  .description('Self-hosted CI whose build agents are ephemeral, isolated containers')
  .version(SLIPWAY_VERSION)
  .exitOverride((e) => {
    // Usage errors are invalid input (exit 2); --help and --version exit 0.
    process.exit(e.exitCode === 0 ? 0 : EXIT.invalid);
  });

program
  .command('server')
  .description('run the coordinator')
  .option('--host <host>', 'address to listen on', env.SLIPWAY_HOST ?? '127.0.0.1')
  .option('--port <port>', 'port', (v) => Number(v), Number(env.SLIPWAY_PORT ?? DEFAULT_PORT))
  .option(
    '--agent-port <port>',
    'also serve only the agent API on this port (for a network policy that keeps jobs off the admin API)',
    (v) => Number(v),
    env.SLIPWAY_AGENT_PORT ? Number(env.SLIPWAY_AGENT_PORT) : undefined,
  )
  .option('--agent-host <host>', 'address of the agent port (default: --host)', env.SLIPWAY_AGENT_HOST)
  .option('--data <dir>', 'data directory', env.SLIPWAY_DATA ?? DEFAULT_DATA_DIR)
  .addOption(databaseOption())
  .addOption(
    new Option(
      '--blobs <url>',
      'workspaces, artifacts and caches: s3://BUCKET[/PREFIX][?endpoint=URL] or file:DIR (default: files under <data>/blobs)',
    ).default(env.SLIPWAY_BLOBS || undefined),
  )
  .option('--lease-ttl <seconds>', 'job lease lifetime without a heartbeat', (v) => Number(v), 90)
  .option(
    '--admin-token-file <path>',
    'read the admin token from this file (a mounted Secret), shared by every replica (default: made in <data>/admin.token)',
    env.SLIPWAY_ADMIN_TOKEN_FILE,
  )
  .addOption(vmImagePoolOption())
  .addOption(logLevelOption())
  .option(
    '--socket <path>',
    'also serve the API on this Unix socket, for `slipway fleet` (e.g. <data>/agent.sock)',
  )
  .option(
    '--public-url <url>',
    'the address people reach the server at (links in commit statuses)',
    env.SLIPWAY_PUBLIC_URL,
  )
  .option('--no-metrics-loopback', '/metrics needs a metrics:read token from loopback clients too')
  .option('--cache-max-gib <GiB>', 'total size of cache entries before the least recently used go', gib, 20)
  .option('--cache-max-entry-gib <GiB>', 'largest cache entry accepted', gib, 2)
  .action(
    act(async (o) => {
      const { startServer } = await import('../server/index.js');
      const { testClockFrom } = await import('../shared/clock.js');
      const server = await startServer({
        logger: await logger('server', o.logLevel),
        // Tests of schedules across real processes run the clock fast; never set otherwise.
        clock: testClockFrom(env.SLIPWAY_TEST_CLOCK),
        config: {
          host: o.host,
          port: o.port,
          agentPort: o.agentPort,
          agentHost: o.agentHost,
          dataDir: o.data,
          database: o.database,
          blobs: o.blobs,
          socketPath: o.socket,
          publicUrl: o.publicUrl,
          leaseTtlSeconds: o.leaseTtl,
          adminTokenFile: o.adminTokenFile,
          cacheMaxGiB: o.cacheMaxGib,
          cacheMaxEntryGiB: o.cacheMaxEntryGib,
          vmImagePools: o.vmImagePool,
          logLevel: o.logLevel,
          secretKey: env.SLIPWAY_SECRET_KEY,
          metricsLoopback: o.metricsLoopback,
        },
      });
      const agents = server.agentUrl ? `Agent API on ${server.agentUrl}\n` : '';
      out(`Slipway server listening on ${server.url}\n${agents}Admin token: ${server.adminTokenFile}\n`);
      await new Promise<void>((resolve) => {
        const stop = () => void server.stop().then(resolve);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      return EXIT.ok;
    }),
  );

program
  .command('run')
  .description('run a pipeline with a directory as its workspace, streaming its logs')
  .argument('[pipeline]', 'pipeline file (default: azure-pipelines.yml or .slipway.yml in --dir)')
  .option('--dir <dir>', 'workspace directory', '.')
  .option('--var <name=value>', 'set a variable (repeatable)', collect, {})
  .option('--secret <name=value>', 'set a secret variable (repeatable; masked in logs)', collect, {})
  .option('--param <name=value>', "set one of the pipeline's parameters (repeatable)", collect, {})
  .option('--repo <name>', 'run a connected repository instead of a folder (the server fetches it)')
  .option('--branch <branch>', 'with --repo: the branch to run (default: its default branch)')
  .option('--commit <sha>', 'with --repo: the commit to run')
  .option('--untrusted', 'queue the run as untrusted: its cache saves are read by no trusted run')
  .option(
    '--allow-unsupported-tasks',
    'run a task Slipway does not have as a failing step instead of refusing',
  )
  .addOption(dataOption())
  .action(
    act(async (pipeline, o) =>
      o.repo !== undefined
        ? (await import('./commands/repo.js')).runRepoCommand(client(o), {
            repo: o.repo,
            branch: o.branch,
            commit: o.commit,
            vars: o.var,
            out,
          })
        : (await import('./commands/run.js')).runCommand({
            ...client(o),
            pipeline,
            dir: o.dir,
            vars: o.var,
            secrets: o.secret,
            params: o.param,
            untrusted: o.untrusted === true,
            allowUnsupportedTasks: o.allowUnsupportedTasks === true,
            out,
            outBytes: (b) => void process.stdout.write(b),
            // A live view on a terminal; the plain lines in CI logs and pipes.
            live:
              process.stdout.isTTY && !inCi
                ? { columns: () => process.stdout.columns || 80, rows: () => process.stdout.rows || 24 }
                : undefined,
          }),
    ),
  );

const repo = program
  .command('repo')
  .description('repositories the server mirrors and builds on push, pull request and schedule');
repo
  .command('add')
  .description('connect a repository; prints the webhook URLs and a webhook secret, once')
  .argument('<name>')
  .requiredOption('--url <url>', 'https://, ssh:// or file:// URL of the repository')
  .option('--pipeline <file>', 'pipeline file in the repository', 'azure-pipelines.yml')
  .option('--default-branch <branch>', 'default branch (schedules, caches)', 'main')
  .option('--poll <seconds>', 'also poll for new commits this often', Number)
  .option(
    '--credential-file <file>',
    'HTTPS token (user:token or token) or SSH deploy key; kept on the server only',
  )
  .option('--status-token-file <file>', 'token that may set commit statuses on the forge')
  .addOption(
    new Option('--forge <forge>', 'the forge, when the URL does not tell it').choices([
      'github',
      'gitlab',
      'gitea',
    ]),
  )
  .option(
    '--forge-api <url>',
    'the forge API root (self-hosted GitLab: https://host/api/v4, Gitea: https://host/api/v1)',
  )
  .option(
    '--forge-project <path>',
    'owner/repo (or GitLab project path) for commit statuses; default from --url',
  )
  .option(
    '--secret <name=value>',
    'secret variable for trusted runs of this repository (repeatable)',
    collect,
    {},
  )
  .addOption(dataOption())
  .action(act(async (name, o) => (await import('./commands/repo.js')).repoAdd(client(o), name, o, out)));
repo
  .command('list')
  .option('--json', 'as JSON')
  .addOption(dataOption())
  .action(act(async (o) => (await import('./commands/repo.js')).repoList(client(o), o, out)));
repo
  .command('remove')
  .argument('<name>')
  .addOption(dataOption())
  .action(act(async (name, o) => (await import('./commands/repo.js')).repoRemove(client(o), name, out)));
repo
  .command('errors')
  .description('what could not be built (a broken pipeline file), with the commit')
  .argument('<name>')
  .option('--json', 'as JSON')
  .addOption(dataOption())
  .action(act(async (name, o) => (await import('./commands/repo.js')).repoErrors(client(o), name, o, out)));

program
  .command('validate')
  .description('check a pipeline file; errors as file:line:col: message')
  .argument('<pipeline>', 'pipeline file')
  .option('--allow-unsupported-tasks', 'accept tasks Slipway does not have (each becomes a failing step)')
  .action(
    act(async (file, o) =>
      (await import('./commands/validate.js')).validateCommand(
        file,
        out,
        err,
        o.allowUnsupportedTasks === true,
      ),
    ),
  );

program
  .command('cancel')
  .description('cancel a run by number or id')
  .argument('<run>')
  .addOption(dataOption())
  .action(act(async (run, o) => (await admin()).cancelRun(client(o), run, out)));

// Seeing what runs: each loads only the views module, and speaks JSON with --json.
const views = () => import('./commands/views.js');
const viewFlags = (o: { data?: string; json?: boolean }) => ({
  ...client(o),
  json: o.json === true,
  tty: process.stdout.isTTY === true,
  out,
});
const jsonOption = () => new Option('--json', 'print the answer as JSON, for scripts');
program
  .command('runs')
  .description('list runs, newest first')
  .option('--limit <n>', 'how many (default 20, at most 500)')
  .option('--before <number>', 'only runs numbered below this (the next page)')
  .option('--status <status>', 'queued, running, completed, or a result: succeeded, failed, canceled, …')
  .option('--search <text>', 'text in the pipeline file, repository, branch or build number')
  .addOption(jsonOption())
  .addOption(dataOption())
  .action(act(async (o) => (await views()).runsCommand({ ...viewFlags(o), ...o })));
program
  .command('status')
  .description("a run's jobs and steps, with times and reasons")
  .argument('<run>', 'run number or id')
  .addOption(jsonOption())
  .addOption(dataOption())
  .action(act(async (run, o) => (await views()).statusCommand({ ...viewFlags(o), run })));
program
  .command('logs')
  .description("a run's log, or one job's; --follow goes on until the run ends and exits by its result")
  .argument('<run>', 'run number or id')
  .argument('[job]', 'job name (default: every job)')
  .option('--follow', 'keep printing what is logged until the run ends')
  .addOption(jsonOption())
  .addOption(dataOption())
  .action(
    act(async (run, job, o) => (await views()).logsCommand({ ...viewFlags(o), run, job, follow: o.follow })),
  );
program
  .command('agents')
  .description('agents with their state and job, and the fleets with their containers')
  .option('--pool <pool>', 'only this pool')
  .addOption(jsonOption())
  .addOption(dataOption())
  .action(act(async (o) => (await views()).agentsCommand({ ...viewFlags(o), pool: o.pool })));
program
  .command('queue')
  .description('queued jobs with why each waits, and jobs that no agent could serve')
  .option('--pool <pool>', 'only this pool')
  .addOption(jsonOption())
  .addOption(dataOption())
  .action(act(async (o) => (await views()).queueCommand({ ...viewFlags(o), pool: o.pool })));
program
  .command('rerun')
  .description('queue a run again, with the same workspace, variables and secrets')
  .argument('<run>', 'run number or id')
  .option('--failed', 'only the failed and canceled jobs and what depends on them; keep the others')
  .addOption(jsonOption())
  .addOption(dataOption())
  .action(act(async (run, o) => (await views()).rerunCommand({ ...viewFlags(o), run, failed: o.failed })));

const artifact = program.command('artifact').description("a run's pipeline artifacts");
artifact
  .command('list')
  .argument('<run>', 'run number or id')
  .addOption(dataOption())
  .action(act(async (run, o) => (await admin()).artifactList(client(o), run, out)));
artifact
  .command('download')
  .argument('<run>', 'run number or id')
  .argument('<name>', 'artifact name')
  .option('--to <dir>', 'where to unpack it', '.')
  .addOption(dataOption())
  .action(act(async (run, name, o) => (await admin()).artifactDownload(client(o), run, name, o.to, out)));

const token = program.command('token').description('personal access tokens');
token
  .command('create')
  .description('create a token; prints only the token')
  .requiredOption(
    '--scope <scope...>',
    'scopes: agent:register, runs:write, runs:read, agents:read, metrics:read, admin',
  )
  .option('--expires <duration>', 'lifetime: 90s, 10m, 12h or 30d (at most 366d)', '30d')
  .option('--name <name>', 'a name to recognise it by')
  .addOption(dataOption())
  .action(act(async (o) => (await admin()).tokenCreate(client(o), o, out)));

const group = program.command('group').description('variable groups: values and secrets pipelines reference');
const groups = () => import('./commands/groups.js');
group
  .command('create')
  .argument('<name>')
  .option('--description <text>', 'what the group is for')
  .option('--pools <pools>', "pools whose jobs may read it, comma-separated ('*': every pool)", listOf)
  .option(
    '--repositories <names>',
    'repositories (slipway repo add) whose runs may read it from any pool, comma-separated',
    listOf,
  )
  .option('--var <name=value>', 'a value (repeatable)', collect, {})
  .option(
    '--secret <name=value>',
    'a secret: sealed at rest, masked in logs, shown by name only (repeatable)',
    collect,
    {},
  )
  .addOption(dataOption())
  .action(act(async (name, o) => (await groups()).groupCreate(client(o), name, o, out)));
group
  .command('set')
  .description('change only what the flags say')
  .argument('<name>')
  .option('--description <text>', 'what the group is for')
  .option('--pools <pools>', 'replace the pools whose jobs may read it, comma-separated', listOf)
  .option(
    '--repositories <names>',
    'replace the repositories whose runs may read it, comma-separated',
    listOf,
  )
  .option('--var <name=value>', 'set a value (repeatable)', collect, {})
  .option('--secret <name=value>', 'set a secret (repeatable)', collect, {})
  .option('--unset <name>', 'remove a value or secret (repeatable)', listOf)
  .addOption(dataOption())
  .action(act(async (name, o) => (await groups()).groupSet(client(o), name, o, out)));
group
  .command('list')
  .option('--json', 'as JSON')
  .addOption(dataOption())
  .action(act(async (o) => (await groups()).groupList(client(o), o, out)));
group
  .command('delete')
  .argument('<name>')
  .addOption(dataOption())
  .action(act(async (name, o) => (await groups()).groupDelete(client(o), name, out)));

const pool = program.command('pool').description('agent pools');
/** The options of the engine a `docker: dind` job gets, for `pool create` and `pool update`. */
const engineOptions = (command: ReturnType<typeof pool.command>) =>
  command
    .option('--registry-mirror <url>', "a registry mirror for dind jobs' engines (repeatable)", listOf)
    .option(
      '--insecure-registry <host:port>',
      "a plain-HTTP registry dind jobs' engines may use (repeatable)",
      listOf,
    )
    .option('--network-mtu <n>', "MTU of a job's private network and of its dind engine's networks", Number)
    .option('--storage-driver <name>', "storage driver of dind jobs' engines (default overlay2)");
engineOptions(
  pool
    .command('update')
    .description("change a pool's settings; fleets apply them to the next job")
    .argument('<name>')
    .option('--allow-dind', "let this pool's jobs have a Docker engine of their own (docker: dind)")
    .option('--no-allow-dind', 'refuse docker: dind jobs (the default)')
    .option('--allow-rootless-builds', "let this pool's jobs build images with buildah (docker: rootless)")
    .option('--no-allow-rootless-builds', 'refuse docker: rootless jobs (the default)')
    .option('--allow-docker-socket', "let this pool's jobs use the host Docker socket (root on the host!)")
    .option('--no-allow-docker-socket', 'refuse docker: socket jobs (the default)')
    .option('--default-image <image>', 'image for container jobs that name none'),
)
  .addOption(dataOption())
  .action(act(async (name, o) => (await admin()).poolUpdate(client(o), name, o, out)));
engineOptions(pool.command('create'))
  .argument('<name>')
  .option('--allow-dind', "let this pool's jobs have a Docker engine of their own (docker: dind)")
  .option('--allow-rootless-builds', "let this pool's jobs build images with buildah (docker: rootless)")
  .option('--allow-docker-socket', "let this pool's jobs use the host Docker socket (root on the host!)")
  .option('--default-image <image>', 'image for container jobs that name none')
  .option('--retry-on-agent-loss <n>', 'new attempts for a job whose agent is lost mid-job', Number)
  .option(
    '--max-log <MiB>',
    'most log a job keeps, all steps together (default 128); the rest is cut with a note',
    Number,
  )
  .option('--max-step-log <MiB>', 'most log one step keeps (default 100)', Number)
  .option(
    '--queue-timeout <duration>',
    'a job that no agent and no fleet serves fails after this long: 90s, 10m, 1h (default 15m)',
  )
  .addOption(dataOption())
  .action(act(async (name, o) => (await admin()).poolCreate(client(o), name, o, out)));
pool
  .command('list')
  .addOption(dataOption())
  .action(act(async (o) => (await admin()).poolList(client(o), out)));

const agent = program.command('agent').description('run or remove agents');
agent
  .command('run')
  .description(
    'register, take jobs, stream their logs (env: AZP_URL, AZP_TOKEN, AZP_TOKEN_FILE, AZP_POOL, AZP_AGENT_NAME, AZP_WORK)',
  )
  .option('--url <url>', 'server URL')
  .option('--token <token>', 'token with scope agent:register')
  .option('--token-file <file>', 'file holding that token')
  .option('--ticket-file <file>', 'one-use registration ticket (deleted once read)')
  .option('--pool <pool>', 'pool to serve')
  .option('--name <name>', 'agent name, unique in the pool')
  .option('--work <dir>', 'work folder')
  .option('--once', 'take one job, then deregister and exit')
  .option('--replace', 'take over a registration of the same name')
  .option('--capability <name=value>', 'add a capability (repeatable)', collect, undefined)
  .option('--kill-grace <seconds>', 'time a canceled step gets between SIGTERM and SIGKILL', Number)
  .option(
    '--retry-for <seconds>',
    'with --once, how long an unreachable server is retried before exit 3 (default 180; SLIPWAY_AGENT_RETRY_FOR)',
    Number,
  )
  .option('--job-user <user>', 'run steps as this OS user; the agent must be root (SLIPWAY_JOB_USER)')
  .action(
    act(async (o) => {
      const { capability, killGrace, retryFor, ...flags } = o;
      const { runAgentProcess } = await import('../agent/index.js');
      return runAgentProcess(
        { ...flags, capabilities: capability, killGraceSeconds: killGrace, retryForSeconds: retryFor },
        env,
      );
    }),
  );
agent
  .command('ticket')
  .description('make a one-use registration ticket for one agent name; prints only the ticket')
  .requiredOption('--name <name>')
  .option('--pool <pool>', 'pool', 'default')
  .option('--expires <duration>', 'how long it may wait to be used: 10s to 1h, e.g. 10m', '10m')
  .addOption(dataOption())
  .action(act(async (o) => (await admin()).agentTicket(client(o), o, out)));
agent
  .command('remove')
  .requiredOption('--name <name>')
  .option('--pool <pool>', 'pool', 'default')
  .addOption(dataOption())
  .action(act(async (o) => (await admin()).agentRemove(client(o), o, out)));

/** Options of a Docker fleet, shared by `fleet` and `up`. */
function fleetOptions(command: Command, defaults: { minIdle: number; max: number }): Command {
  return command
    .option('--min-idle <n>', 'idle agents kept running', Number, defaults.minIdle)
    .option('--max <n>', 'most agent containers at once', Number, defaults.max)
    .option(
      '--warm-per-image <n>',
      'idle agents kept for each custom image used in the last 10 minutes, within --max (0: none)',
      Number,
      1,
    )
    .option(
      '--image <image>',
      "default job image (default: the pool's defaultImage, else slipway/base:latest)",
    )
    .option('--cpus <n>', 'CPUs per container, e.g. 1.5')
    .option('--memory <size>', 'memory per container, e.g. 2g')
    .option('--pids <n>', 'processes per container', '4096')
    .option('--disk <size>', "size of each job's work folder and /tmp (tmpfs, counted as memory), e.g. 4g")
    .option('--drain-timeout <seconds>', 'how long running jobs may finish when stopping', Number, 300)
    .option(
      '--label <name=value>',
      'extra label on every container, network and volume (repeatable)',
      collect,
      {},
    )
    .option('--fleet-id <id>', 'id labelling what this fleet makes (default: from host, server and pool)');
}
const fleetFlags = (o: FleetFlags & { pool?: string }): FleetFlags => ({ ...o, pool: o.pool ?? 'default' });
// In a terminal, log lines a person reads among the command's own output; JSON otherwise.
const logger = async (name: string, level = env.SLIPWAY_LOG_LEVEL ?? 'info') =>
  (await import('../shared/logger.js')).createLogger({ level, name, human: process.stderr.isTTY === true });

fleetOptions(
  program
    .command('fleet')
    .description('run one-job agent containers for a pool (env: SLIPWAY_URL, SLIPWAY_TOKEN)')
    .option('--pool <pool>', 'pool to serve', 'default')
    .option('--socket <path>', "host path of the server's Unix socket (default: <data>/agent.sock)")
    .addOption(
      new Option('--driver <driver>', 'where job agents run')
        .choices(['docker', 'kubernetes'])
        .default('docker'),
    )
    .option(
      '--namespace <ns>',
      "kubernetes: namespace of the job pods (default: the context's, or the fleet pod's)",
    )
    .option(
      '--kubeconfig <file>',
      'kubernetes: kubeconfig file (default: in-cluster config in a pod, else $KUBECONFIG)',
    )
    .option(
      '--agent-url <url>',
      'kubernetes: the server as job pods reach it, e.g. http://slipway-server:8420',
    )
    .option(
      '--agent-image <image>',
      'kubernetes: image the agent runtime is copied from (default: slipway/agent:latest)',
    )
    .addOption(dataOption()),
  { minIdle: 1, max: 4 },
).action(
  act(async (o) =>
    (await import('./commands/fleet.js')).fleetCommand({
      ...client(o),
      ...fleetFlags(o),
      socket: o.socket,
      driver: o.driver,
      namespace: o.namespace,
      kubeconfig: o.kubeconfig,
      agentUrl: o.agentUrl,
      agentImage: o.agentImage,
      env: {
        KUBERNETES_SERVICE_HOST: env.KUBERNETES_SERVICE_HOST,
        KUBERNETES_SERVICE_PORT: env.KUBERNETES_SERVICE_PORT,
        KUBECONFIG: env.KUBECONFIG,
        HOME: env.HOME,
        SLIPWAY_POD_NAME: env.SLIPWAY_POD_NAME,
        SLIPWAY_POD_UID: env.SLIPWAY_POD_UID,
        SLIPWAY_POD_NAMESPACE: env.SLIPWAY_POD_NAMESPACE,
      },
      logger: await logger('fleet'),
      out,
    }),
  ),
);

fleetOptions(
  program
    .command('up')
    .description('server, images and a fleet for pool default, all local; Ctrl-C stops it cleanly')
    .option('--host <host>', 'address to listen on', env.SLIPWAY_HOST ?? '127.0.0.1')
    .option('--port <port>', 'port', (v) => Number(v), Number(env.SLIPWAY_PORT ?? DEFAULT_PORT))
    .option('--data <dir>', 'data directory', env.SLIPWAY_DATA ?? DEFAULT_DATA_DIR)
    .addOption(databaseOption())
    .option('--lease-ttl <seconds>', 'job lease lifetime without a heartbeat', (v) => Number(v), 90)
    .option('--cache-max-gib <GiB>', 'total size of cache entries before the least recently used go', gib, 20)
    .option('--cache-max-entry-gib <GiB>', 'largest cache entry accepted', gib, 2)
    .addOption(vmImagePoolOption())
    .addOption(logLevelOption()),
  { minIdle: 1, max: 4 },
).action(
  act(async (o) =>
    (await import('./commands/up.js')).upCommand({
      host: o.host,
      port: o.port,
      data: o.data,
      database: o.database,
      leaseTtlSeconds: o.leaseTtl,
      cacheMaxGiB: o.cacheMaxGib,
      cacheMaxEntryGiB: o.cacheMaxEntryGib,
      vmImagePools: o.vmImagePool,
      secretKey: env.SLIPWAY_SECRET_KEY,
      fleet: fleetFlags(o),
      logger: await logger('up', o.logLevel),
      serverLogger: await logger('server', o.logLevel),
      out,
    }),
  ),
);

program
  .command('image')
  .description('the images fleets run')
  .command('build')
  .description('build slipway/agent and slipway/base from this host, without a registry')
  .option('--force', 'rebuild even when up to date')
  .action(
    act(async (o) =>
      (await import('./commands/image.js')).imageBuildCommand({
        force: o.force,
        logger: await logger('image'),
        out,
      }),
    ),
  );

await program.parseAsync(process.argv);
// The command is done: leave once what it printed is written. Waiting for the event loop to
// drain instead also waits for V8's background work (compiler and GC threads) to finish, which
// took 70–340 ms after `slipway run` had printed its result on a loaded machine.
process.stdout.write('', () => process.stderr.write('', () => process.exit()));
