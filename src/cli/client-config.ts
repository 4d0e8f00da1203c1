import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ApiClient } from '../protocol/index.js';
import { ADMIN_TOKEN_FILE, DEFAULT_DATA_DIR, DEFAULT_PORT, readServerAddress } from '../shared/data-dir.js';
import { CliError, EXIT } from './exit-codes.js';

export interface ClientSettings {
  url?: string;
  token?: string;
  dataDir?: string;
}

/**
 * Where the CLI talks to and with which token: SLIPWAY_URL and SLIPWAY_TOKEN when set, else
 * the local server's data directory (its admin token file and the address that server recorded
 * there; the default port when it recorded none).
 */
export function resolveClient(s: ClientSettings): { client: ApiClient; token: string; url: string } {
  const dataDir = resolve(s.dataDir ?? DEFAULT_DATA_DIR);
  const url = (s.url ?? readServerAddress(dataDir)?.url ?? `http://127.0.0.1:${DEFAULT_PORT}`).replace(
    /\/+$/,
    '',
  );
  let token = s.token;
  if (!token) {
    const file = join(dataDir, ADMIN_TOKEN_FILE);
    if (!existsSync(file)) {
      throw new CliError(
        `no token: set SLIPWAY_TOKEN, or run where 'slipway server' keeps its data (${file} not found)`,
        EXIT.invalid,
      );
    }
    token = readFileSync(file, 'utf8').trim();
  }
  // node:http, not fetch: loading fetch's undici was a tenth of `slipway run`'s own CPU time.
  return { client: new ApiClient(url, { transport: 'node-http' }), token, url };
}
