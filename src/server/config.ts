import { z } from 'zod';

const serverConfigFields = z.object({
  /** Address to listen on. */
  host: z.string().default('127.0.0.1'),
  /** TCP port; 0 picks a free one. */
  port: z.number().int().min(0).max(65535).default(8420),
  /**
   * Also serve the agent API alone on this TCP port (0 picks a free one), so a network policy can
   * let job pods reach it and not the admin routes; none by default (agents use the main port).
   */
  agentPort: z.number().int().min(0).max(65535).optional(),
  /** Address of the agent port's listener; default: `host`. */
  agentHost: z.string().optional(),
  /** Data directory: database, admin token, secret key, workspaces. */
  dataDir: z.string().default('.slipway'),
  /** Where the store lives, as a URL (`sqlite:<path>`; relative to the current directory); default `sqlite:<data>/slipway.db`. */
  database: z.string().optional(),
  /** Blob storage URL (`s3://…`); default: files under `<data>/blobs`. */
  blobs: z.string().optional(),
  /** Also serve the API on this Unix socket (mounted into fleet containers); none by default. */
  socketPath: z.string().optional(),
  /** How long a job's lease lives without a heartbeat, in seconds. */
  leaseTtlSeconds: z.number().min(1).max(3600).default(90),
  /** Longest a poll is held open, in seconds. */
  pollTimeoutSeconds: z.number().min(1).max(50).default(50),
  /**
   * The admin token, read from this file (a mounted Secret) and stored once, so replicas share
   * one; default: made on first start and kept in `<data>/admin.token`.
   */
  adminTokenFile: z.string().optional(),
  /** 32-byte key (hex or base64) that seals secrets; default: `<data>/secret.key`, made on first start. */
  secretKey: z.string().optional(),
  /**
   * `pool: { vmImage: X }` runs in the pool mapped here, as `POOL` or `POOL:IMAGE` (the job
   * image); default: Linux images in pool `default` on its own image, Windows and macOS refused.
   */
  vmImagePools: z.record(z.string(), z.string()).default({}),
  /** The server's address as people reach it (links in commit statuses); default: the address it listens on. */
  publicUrl: z.string().url().optional(),
  /** How often the sources' loop looks at what is due (polls, statuses, batches), in ms. */
  sourcesTickMs: z.number().int().min(50).max(60_000).default(1_000),
  /** `/metrics` answers loopback clients without a token; others need one with scope `metrics:read`. Default true. */
  metricsLoopback: z.boolean().default(true),
  /** Total size of cache entries, in GiB, past which the least recently used are evicted. */
  cacheMaxGiB: z.number().positive().default(20),
  /** Largest cache entry, in GiB; a bigger save is refused with a message naming this setting. */
  cacheMaxEntryGiB: z.number().positive().default(2),
  /** Log level (pino). */
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});
export const serverConfig = serverConfigFields.superRefine((c, ctx) => {
  const sameAddress = (c.agentHost ?? c.host) === c.host;
  if (c.agentPort && c.agentPort === c.port && sameAddress) {
    ctx.addIssue({
      code: 'custom',
      path: ['agentPort'],
      message: 'the agent port must differ from the main port',
    });
  }
});
export type ServerConfig = z.infer<typeof serverConfig>;
export type ServerConfigInput = z.input<typeof serverConfig>;
