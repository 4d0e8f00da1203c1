import { existsSync } from 'node:fs';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import type { Clock } from '../shared/clock.js';
import { ValidationError } from '../shared/errors.js';
import { hashToken, newToken, tokenKind } from '../shared/ids.js';
import type { Store } from '../store/index.js';

/**
 * Makes sure the store knows the admin token, and says where it is kept.
 * - `shared`: a file the operator made (a mounted Secret), read-only to the server, the same on
 *   every replica. Its hash is stored once; a replica that starts again, or starts beside another
 *   one, finds that row and adds none.
 * - `own`: the data directory's `admin.token`, made on first start (0600) and kept across
 *   restarts; one per data directory.
 */
export async function ensureAdminToken(
  store: Store,
  clock: Clock,
  file: { shared: string } | { own: string },
): Promise<void> {
  if ('shared' in file) {
    const token = await readSharedToken(file.shared);
    await storeAdminToken(store, clock, token);
    return;
  }
  if (existsSync(file.own)) {
    const token = (await readFile(file.own, 'utf8')).trim();
    if (await store.findToken(hashToken(token))) return;
  }
  const token = newToken('adm');
  await storeAdminToken(store, clock, token);
  await writeFile(file.own, `${token}\n`, { mode: 0o600 });
  await chmod(file.own, 0o600);
}

async function readSharedToken(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ValidationError(`--admin-token-file ${path}: ${(error as Error).message}`);
  }
  const token = text.trim();
  // The token itself is never part of a message.
  if (tokenKind(token) !== 'adm') {
    throw new ValidationError(
      `--admin-token-file ${path} must hold one admin token: slw_adm_ followed by 43 base64url characters (32 random bytes)`,
    );
  }
  return token;
}

/** Inserts the token's row unless it is there; a replica inserting it at the same moment wins. */
async function storeAdminToken(store: Store, clock: Clock, token: string): Promise<void> {
  const hash = hashToken(token);
  if (await store.findToken(hash)) return;
  try {
    await store.insertToken(
      {
        // Named by its hash: the same token gives the same row on every replica.
        id: `adm_${hash.slice(0, 24)}`,
        kind: 'adm',
        hash,
        name: 'admin',
        scopes: ['admin'],
        pool: null,
        agentName: null,
        agentId: null,
        jobId: null,
        epoch: null,
        expiresAt: null,
      },
      clock.now(),
    );
  } catch (error) {
    // Another replica stored it between the look-up and the insert (the hash is unique).
    if (!(await store.findToken(hash))) throw error;
  }
}
