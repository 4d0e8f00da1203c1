import { z } from 'zod';

export const serverConfig = z.object({
  /** Address to listen on. */
  host: z.string().default('127.0.0.1'),
  /** TCP port; 0 picks a free one. */
  port: z.number().int().min(0).max(65535).default(8420),
  /** Data directory: database, admin token, secret key, workspaces. */
  dataDir: z.string().default('.slipway'),
  /** Where the store lives, as a URL (`sqlite:<path>`; relative to the current directory); default `sqlite:<data>/slipway.db`. */
  database: z.string().optional(),
  /** Also serve the API on this Unix socket (mounted into fleet containers); none by default. */
  socketPath: z.string().optional(),
  /** How long a job's lease lives without a heartbeat, in seconds. */
  leaseTtlSeconds: z.number().min(1).max(3600).default(90),
  /** Longest a poll is held open, in seconds. */
  pollTimeoutSeconds: z.number().min(1).max(50).default(50),
  /** 32-byte key (hex or base64) that seals secrets; default: `<data>/secret.key`, made on first start. */
  secretKey: z.string().optional(),
  /**
   * `pool: { vmImage: X }` runs in the pool mapped here, as `POOL` or `POOL:IMAGE` (the job
   * image); default: Linux images in pool `default` on its own image, Windows and macOS refused.
   */
  vmImagePools: z.record(z.string(), z.string()).default({}),
  /** Log level (pino). */
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});
export type ServerConfig = z.infer<typeof serverConfig>;
export type ServerConfigInput = z.input<typeof serverConfig>;
