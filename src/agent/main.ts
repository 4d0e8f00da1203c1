// Entry point of the standalone agent bundle (`slipway-agent`), run in containers and by the
// agent image: `docker run -e AZP_URL=… -e AZP_TOKEN=… slipway/agent --once`.
import '../shared/zod-jitless.js';
import { Command } from 'commander';
import { AGENT_VERSION } from '../protocol/index.js';
import { runAgentProcess } from './run-agent.js';

const program = new Command('slipway-agent')
  .version(AGENT_VERSION, '--version')
  .option('--url <url>', 'server URL (AZP_URL)')
  .option('--token <token>', 'token with scope agent:register (AZP_TOKEN)')
  .option('--token-file <file>', 'file holding the token (AZP_TOKEN_FILE)')
  .option('--ticket-file <file>', 'one-use registration ticket; deleted once read')
  .option('--pool <pool>', 'pool (AZP_POOL)')
  .option('--name <name>', 'agent name (AZP_AGENT_NAME)')
  .option('--work <dir>', 'work folder (AZP_WORK)')
  .option('--once', 'run one job, then deregister and exit')
  .option('--replace', 'take over a registration of the same name')
  .option('--job-user <user>', 'run steps as this OS user (agent as root; SLIPWAY_JOB_USER)')
  // Fleets start agents with `--capability Slipway.Image=<image>` so warm agents match container jobs.
  .option('--capability <name=value>', 'add a capability (repeatable)', collectCapability, undefined)
  .allowExcessArguments(true)
  .action(async (opts) => {
    const { capability, ...flags } = opts;
    process.exitCode = await runAgentProcess({ ...flags, capabilities: capability }, process.env);
  });

function collectCapability(
  value: string,
  previous: Record<string, string> | undefined,
): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new Error(`expected NAME=VALUE, got '${value}'`);
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

// `agent run` may precede the options, as with the full CLI.
const argv = process.argv
  .slice(2)
  .filter(
    (a, i, all) =>
      !(i < 2 && ((a === 'agent' && all[i + 1] === 'run') || (a === 'run' && all[i - 1] === 'agent'))),
  );
// Not a top-level await: the bundle is CommonJS, which V8 compiles with a code cache (entry.ts).
void program.parseAsync(argv, { from: 'user' }).then(() => {
  // Deregistered: leave once what was printed is written, rather than wait for the event loop and
  // V8's background threads to wind down (a one-job container's exit is the fleet's next start).
  process.stdout.write('', () => process.stderr.write('', () => process.exit()));
});
