// The `slipway` command: the composition root of every process the CLI starts.
import { Command, InvalidArgumentError, Option } from 'commander';
import { AGENT_VERSION } from '../protocol/index.js';
import { DEFAULT_DATA_DIR, DEFAULT_PORT } from '../shared/data-dir.js';
import type { ClientSettings } from './client-config.js';
import type { FleetFlags } from './commands/fleet.js';
import { describeError, EXIT, exitCodeFor } from './exit-codes.js';

const env = process.env;

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
    'where the store lives: sqlite:<path> (default: sqlite:<data>/slipway.db)',
  ).default(env.SLIPWAY_DATABASE || undefined); // an empty variable means the default

const logLevelOption = () =>
  new Option('--log-level <level>', 'log level')
    .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default(env.SLIPWAY_LOG_LEVEL ?? 'info');

const program = new Command('slipway')
  .description('Self-hosted CI whose build agents are ephemeral, isolated containers')
  .version(AGENT_VERSION)
  .exitOverride((e) => {
    // Usage errors are invalid input (exit 2); --help and --version exit 0.
    process.exit(e.exitCode === 0 ? 0 : EXIT.invalid);
  });

program
  .command('server')
  .description('run the coordinator')
  .option('--host <host>', 'address to listen on', env.SLIPWAY_HOST ?? '127.0.0.1')
  .option('--port <port>', 'port', (v) => Number(v), Number(env.SLIPWAY_PORT ?? DEFAULT_PORT))
  .option('--data <dir>', 'data directory', env.SLIPWAY_DATA ?? DEFAULT_DATA_DIR)
  .addOption(databaseOption())
  .option('--lease-ttl <seconds>', 'job lease lifetime without a heartbeat', (v) => Number(v), 90)
  .addOption(vmImagePoolOption())
  .addOption(logLevelOption())
  .option(
    '--socket <path>',
    'also serve the API on this Unix socket, for `slipway fleet` (e.g. <data>/agent.sock)',
  )
  .action(
    act(async (o) => {
      const { startServer } = await import('../server/index.js');
      const server = await startServer({
        logger: await logger('server', o.logLevel),
        config: {
          host: o.host,
          port: o.port,
          dataDir: o.data,
          database: o.database,
          socketPath: o.socket,
          leaseTtlSeconds: o.leaseTtl,
          vmImagePools: o.vmImagePool,
          logLevel: o.logLevel,
          secretKey: env.SLIPWAY_SECRET_KEY,
        },
      });
      out(`Slipway server listening on ${server.url}\nAdmin token: ${server.adminTokenFile}\n`);
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
  .option(
    '--allow-unsupported-tasks',
    'run a task Slipway does not have as a failing step instead of refusing',
  )
  .addOption(dataOption())
  .action(
    act(async (pipeline, o) =>
      (await import('./commands/run.js')).runCommand({
        ...client(o),
        pipeline,
        dir: o.dir,
        vars: o.var,
        secrets: o.secret,
        params: o.param,
        allowUnsupportedTasks: o.allowUnsupportedTasks === true,
        out,
      }),
    ),
  );

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
  .requiredOption('--scope <scope...>', 'scopes: agent:register, runs:write, runs:read, agents:read, admin')
  .option('--expires <duration>', 'lifetime: 90s, 10m, 12h or 30d (at most 366d)', '30d')
  .option('--name <name>', 'a name to recognise it by')
  .addOption(dataOption())
  .action(act(async (o) => (await admin()).tokenCreate(client(o), o, out)));

const pool = program.command('pool').description('agent pools');
pool
  .command('create')
  .argument('<name>')
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
    .addOption(dataOption()),
  { minIdle: 1, max: 4 },
).action(
  act(async (o) =>
    (await import('./commands/fleet.js')).fleetCommand({
      ...client(o),
      ...fleetFlags(o),
      socket: o.socket,
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
