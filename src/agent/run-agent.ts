import { ZodError } from 'zod';
import { ConnectionError, HttpError } from '../protocol/client.js';
import { ValidationError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { Agent } from './agent.js';
import {
  type AgentConfig,
  type AgentConfigInput,
  agentConfig,
  agentConfigFromEnv,
  CREDENTIAL_VARIABLES,
} from './config.js';

/**
 * Runs an agent as a process: config from flags and environment, credentials scrubbed from
 * the environment, SIGINT/SIGTERM drain it. Resolves with the exit code (DESIGN.md contract).
 */
export async function runAgentProcess(
  flags: Partial<AgentConfigInput>,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  let config: AgentConfig;
  try {
    config = agentConfig.parse(agentConfigFromEnv(env, flags));
  } catch (err) {
    if (!(err instanceof ZodError)) throw err;
    for (const issue of err.issues)
      process.stderr.write(`slipway agent: ${issue.path.join('.') || 'config'}: ${issue.message}\n`);
    return 2;
  }
  // Before anything can run: credentials leave the environment that every step inherits.
  for (const name of CREDENTIAL_VARIABLES) delete env[name];
  const stepEnv = Object.fromEntries(
    Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined),
  );

  const logger = createLogger({ level: config.logLevel, name: 'agent' }).child({
    agent: config.name,
    pool: config.pool,
  });
  const agent = new Agent({ config, env: stepEnv, logger });
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    logger.info(
      { signal: sig },
      signals === 1
        ? 'draining: the running job is canceled, then the agent deregisters'
        : 'second signal: exiting now',
    );
    if (signals > 1) process.exit(1);
    agent.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await agent.run();
  } catch (err) {
    const message = err instanceof HttpError ? err.detail : (err as Error).message;
    process.stderr.write(`slipway agent: ${message}\n`);
    if (err instanceof ValidationError) return 2;
    if (err instanceof HttpError && err.status < 500) return 2;
    if (err instanceof ConnectionError || err instanceof HttpError) return 3;
    return 3;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
