import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { ZodError } from 'zod';
import { answerDetail, answeredStatus, ConnectionError, JOB_CA_CERTS_VARIABLE } from '../protocol/index.js';
import { ValidationError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { Agent } from './agent.js';
import {
  type AgentConfig,
  type AgentConfigInput,
  agentConfig,
  agentConfigFromEnv,
  forbiddenCredentials,
  isCredentialVariable,
} from './config.js';
import { type JobUser, resolveJobUser, whyReadable, whyUnreachable } from './job-user.js';

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
  const forbidden = forbiddenCredentials(env);
  if (forbidden.length > 0) {
    for (const problem of forbidden) {
      process.stderr.write(`slipway agent: ${problem}\n`);
    }
    return 2;
  }
  let jobUser: JobUser | undefined;
  try {
    if (config.jobUser) {
      jobUser = resolveJobUser(config.jobUser, readFileSync('/etc/passwd', 'utf8'), process.getuid?.() ?? -1);
      await mkdir(config.work, { recursive: true, mode: 0o755 });
      const why = whyUnreachable(config.work, jobUser);
      if (why) throw new ValidationError(`--work ${config.work}: ${why}; choose a work folder it can reach`);
      const exposed = config.tokenFile && whyReadable(config.tokenFile, jobUser);
      if (exposed)
        throw new ValidationError(`--token-file ${exposed}; make it readable by the agent only (chmod 600)`);
    }
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    process.stderr.write(`slipway agent: ${err.message}\n`);
    return 2;
  }
  // Before anything can run: credentials leave the environment that every step inherits.
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && isCredentialVariable(name, value)) delete env[name];
  }
  const stepEnv = Object.fromEntries(
    Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined),
  );
  // The fleet's CA bundle is the steps' (see JOB_CA_CERTS_VARIABLE); one the job sets wins.
  const jobCa = stepEnv[JOB_CA_CERTS_VARIABLE];
  delete stepEnv[JOB_CA_CERTS_VARIABLE];
  if (jobCa && !stepEnv.NODE_EXTRA_CA_CERTS) stepEnv.NODE_EXTRA_CA_CERTS = jobCa;
  if (jobUser) Object.assign(stepEnv, { HOME: jobUser.home, USER: jobUser.name, LOGNAME: jobUser.name });

  const logger = createLogger({ level: config.logLevel, name: 'agent' }).child({
    agent: config.name,
    pool: config.pool,
  });
  if (jobUser) logger.info({ jobUser: jobUser.name, uid: jobUser.uid }, 'steps run as the job user');
  else if (!config.once && !config.ticketFile) {
    logger.warn(
      { uid: process.getuid?.() },
      "steps run as the agent's own user, so a job can read this agent's memory and outlive itself into the next job: not isolated; use --job-user (agent as root) or a fleet",
    );
  }
  const agent = new Agent({ config, env: stepEnv, jobUser, logger });
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
    const message = answerDetail(err) ?? (err as Error).message;
    process.stderr.write(`slipway agent: ${message}\n`);
    if (err instanceof ValidationError) return 2;
    const status = answeredStatus(err);
    if (status !== undefined && status < 500) return 2;
    if (err instanceof ConnectionError || status !== undefined) return 3;
    return 3;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
