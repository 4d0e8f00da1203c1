import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';

export const agentConfig = z
  .object({
    /** The coordinator's URL: `http(s)://host:port` or `unix:///path.sock`. Checked in `superRefine`. */
    url: z.string(),
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
    /**
     * OS user every step runs as (host agents; the agent must run as root). After each job every
     * process of that user is killed. Default: steps run as the agent's own user (not isolated).
     */
    jobUser: z.string().min(1).optional(),
    /** Grace between SIGTERM and SIGKILL when a step is canceled or times out, in seconds. */
    killGraceSeconds: z.number().min(0).max(600).default(10),
    /** How long to keep retrying deregistration while the server still shows a job running, in seconds. */
    deregisterTimeoutSeconds: z.number().min(0).default(60),
    /**
     * With `--once` (or a ticket), how long the server may stay unreachable before the agent
     * gives up with exit 3, in seconds. Without it the agent keeps retrying for good.
     */
    retryForSeconds: z.number().min(0).default(180),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .superRefine((c, ctx) => {
    const urlProblem = checkServerUrl(c.url);
    if (urlProblem) ctx.addIssue({ code: 'custom', path: ['url'], message: urlProblem });
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
    retryForSeconds: numberOrText(pick('SLIPWAY_AGENT_RETRY_FOR')),
    jobUser: pick('SLIPWAY_JOB_USER'),
    ...defined,
  } as AgentConfigInput;
}

/** Why `url` cannot be the server's address, naming the flag and variables it comes from; else undefined. */
export function checkServerUrl(url: string): string | undefined {
  const from = 'set it with --url or the AZP_URL (or SLIPWAY_URL) environment variable';
  if (url.trim() === '') return `the server URL is missing: ${from}`;
  // `localhost:8420` parses as a URL whose scheme is `localhost:`, so the scheme is checked by name.
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  if (!scheme) {
    return `'${url}' (from --url or AZP_URL) has no scheme: write http://${url} or https://${url}`;
  }
  if (scheme === 'unix')
    return /^unix:\/\/\/./.test(url) ? undefined : `'${url}' needs a socket path: unix:///path.sock`;
  if (scheme !== 'http' && scheme !== 'https')
    return `'${url}' has the scheme ${scheme}://; use http://, https:// or unix:///path.sock`;
  try {
    new URL(url);
  } catch {
    return `'${url}' is not a valid URL; ${from}`;
  }
  return undefined;
}

/** A number given in the environment stays text when it is not one, so the schema names it. */
function numberOrText(value: string | undefined): number | string | undefined {
  if (value === undefined) return undefined;
  return /^\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : value;
}

/** A Slipway credential anywhere in a value: admin token, PAT, ticket, agent, job or step token. */
const SLIPWAY_TOKEN_VALUE = /slw_(adm|pat|jit|agt|job|stp)_[A-Za-z0-9_-]{43}/;
/** Written so that the bundle never holds the admin prefix itself: jobs search for it. */
const ADMIN_TOKEN_VALUE = /slw_(?:adm)_[A-Za-z0-9_-]{43}/;
/** `AZP_*` / `SLIPWAY_*` names that speak of a credential, and any `*ADMIN_TOKEN*`. */
const CREDENTIAL_NAME = /^(AZP|SLIPWAY)_.*(TOKEN|TICKET|SECRET|PASSWORD|KEY)|ADMIN_TOKEN/i;

/**
 * Whether a variable carries a credential, so it is removed from the environment steps inherit:
 * by its name (`AZP_TOKEN*`, `SLIPWAY_*TOKEN*`, `*ADMIN_TOKEN*`, …) or by a Slipway token in its value.
 */
export function isCredentialVariable(name: string, value: string): boolean {
  return CREDENTIAL_NAME.test(name) || SLIPWAY_TOKEN_VALUE.test(value);
}

/**
 * Credentials an agent must not even start with: the admin token (in any variable) and the CLI's
 * `SLIPWAY_TOKEN`, which the agent never uses. Its initial environment stays readable in
 * `/proc/<agent>/environ` to every process of its user, whatever it removes later.
 * Returns one message per offending variable.
 */
export function forbiddenCredentials(env: NodeJS.ProcessEnv): string[] {
  const problems: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!value) continue;
    const why = ADMIN_TOKEN_VALUE.test(value)
      ? 'holds the admin token (an agent needs only a PAT with scope agent:register, or a ticket)'
      : name === 'SLIPWAY_TOKEN' || /ADMIN_TOKEN/i.test(name)
        ? "is the CLI's credential, which an agent never uses"
        : undefined;
    if (why) {
      problems.push(
        `${name} ${why}; start the agent without it (env -u ${name} …): its starting environment stays readable in /proc`,
      );
    }
  }
  return problems;
}
