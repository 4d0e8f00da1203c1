import { hostname } from 'node:os';
import { sha256Hex } from '../shared/ids.js';

/**
 * A fleet id that stays the same when the same fleet restarts (host, server, pool), so the
 * restarted fleet collects what a crashed one left, and differs for fleets of other servers
 * on the same host, so none collects another's containers.
 */
export function defaultFleetId(o: { pool: string; server: string; host?: string }): string {
  const host = (o.host ?? hostname()).replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 40);
  return `${host}-${o.pool}-${sha256Hex(o.server).slice(0, 8)}`;
}
