import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';

export const agentConfig = z
  .object({
    /** The coordinator's URL. */
    url: z.string().url(),
    /** Personal access token with scope agent:register (kept in memory only until registered). */
    token: z.string().optional(),
    /** File holding the token (read once). */
    tokenFile: z.string().optional(),
    /** File holding a one-use JIT ticket; read and deleted at start (fleet agents). */
    ticketFile: z.string().optional(),
    /** Pool to serve. */
    pool: z.string().default('default'),
    /** Agent name, unique in the pool. Default: the host name. */
    name: z.string().default(() => hostname()),
    /** Work folder: each job gets `<work>/<n>/{s,a,b,tmp}`. */
    work: z.string().default('_work'),
    /** Take exactly one job, then deregister and exit. */
    once: z.boolean().default(false),
    /** Take over a registration of the same name (its old key is revoked). */
    replace: z.boolean().default(false),
    /** User-defined capabilities, `name=value`, added to the environment's. */
    capabilities: z.record(z.string(), z.string()).default({}),
    /** Grace between SIGTERM and SIGKILL when a step is canceled or times out, in seconds. */
    killGraceSeconds: z.number().min(0).max(600).default(10),
    /** How long to keep retrying deregistration while the server still shows a job running, in seconds. */
    deregisterTimeoutSeconds: z.number().min(0).default(60),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .superRefine((c, ctx) => {
    const given = [c.token, c.tokenFile, c.ticketFile].filter((v) => v !== undefined && v !== '').length;
    if (given === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['token'],
        message: 'a token is needed: --token, --token-file or --ticket-file (AZP_TOKEN / AZP_TOKEN_FILE)',
      });
    }
    if (given > 1)
      ctx.addIssue({
        code: 'custom',
        path: ['token'],
        message: 'give only one of --token, --token-file, --ticket-file',
      });
  })
  .transform((c) => ({ ...c, url: c.url.replace(/\/+$/, ''), work: resolve(c.work) }));
export type AgentConfig = z.infer<typeof agentConfig>;
export type AgentConfigInput = z.input<typeof agentConfig>;

/**
 * Flags win over the environment; `AZP_*` (the familiar container contract) and `SLIPWAY_*`
 * are both read. Pure: the caller passes the environment.
 */
export function agentConfigFromEnv(
  env: NodeJS.ProcessEnv,
  flags: Partial<AgentConfigInput>,
): AgentConfigInput {
  const pick = (...names: string[]) => names.map((n) => env[n]).find((v) => v !== undefined && v !== '');
  const defined = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined));
  return {
    url: pick('AZP_URL', 'SLIPWAY_URL') ?? '',
    token: pick('AZP_TOKEN', 'SLIPWAY_AGENT_TOKEN'),
    tokenFile: pick('AZP_TOKEN_FILE', 'SLIPWAY_TOKEN_FILE'),
    ticketFile: pick('SLIPWAY_TICKET_FILE'),
    pool: pick('AZP_POOL', 'SLIPWAY_POOL'),
    name: pick('AZP_AGENT_NAME', 'SLIPWAY_AGENT_NAME'),
    work: pick('AZP_WORK', 'SLIPWAY_WORK'),
    logLevel: pick('SLIPWAY_LOG_LEVEL'),
    ...defined,
  } as AgentConfigInput;
}

/** Variables that carry credentials: removed from the agent's environment before any job runs. */
export const CREDENTIAL_VARIABLES = [
  'AZP_TOKEN',
  'AZP_TOKEN_FILE',
  'SLIPWAY_TOKEN',
  'SLIPWAY_AGENT_TOKEN',
  'SLIPWAY_TOKEN_FILE',
  'SLIPWAY_TICKET_FILE',
];
