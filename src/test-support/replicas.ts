import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { newToken } from '../shared/ids.js';
import { freePort, type Proc, spawnCli } from './harness.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';
import { RoundRobinProxy } from './round-robin-proxy.js';

// `slipway server` processes on one real PostgreSQL, sharing blobs in s3rver (an S3-compatible
// server from npm, standing in for S3/MinIO), one admin token from a file (as a mounted Secret)
// and one secret key. Agents reach them through a round-robin TCP proxy, as a Kubernetes
// Service spreads connections over its pods.

const BUCKET = 'slipway-replicas';

export interface Replica {
  name: string;
  port: number;
  url: string;
  dataDir: string;
  /** The running process; undefined while it is down. */
  proc?: Proc;
}

export interface ReplicaSetOptions {
  /** How many replicas; default 2. */
  count?: number;
  /** `--lease-ttl`, in seconds. */
  leaseTtl: number;
  /** Prefix of the temporary directory and database. */
  name: string;
  /** More server flags, for every replica. */
  args?: string[];
  /** `--log-level`; default warn. */
  logLevel?: string;
  /** More environment, for every replica. */
  env?: Record<string, string>;
}

export interface ReplicaSet {
  db: TestDatabase;
  replicas: Replica[];
  proxy: RoundRobinProxy;
  /** The proxy's URL: the one address agents are given. */
  viaProxy: string;
  /** The shared admin token every replica was given by `--admin-token-file`. */
  admin: string;
  adminTokenFile: string;
  dir: string;
  /** Starts a replica (again: same port, same data directory) and waits until it listens. */
  start(r: Replica): Promise<Proc>;
  /** `kill -9` of a replica; resolves once it is gone. */
  kill(r: Replica): Promise<void>;
  /** Ends the replicas, the proxy and s3rver, drops the database. */
  stop(): Promise<void>;
}

/** Starts `count` replicas one after the other (the first migrates) behind a round-robin proxy. */
export async function startReplicaSet(o: ReplicaSetOptions): Promise<ReplicaSet> {
  const dir = await mkdtemp(join(tmpdir(), `${o.name}-`));
  const db = await createTestDatabase(o.name.replace(/\W/g, '_'));
  const s3 = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: join(dir, 's3'),
    configureBuckets: [{ name: BUCKET, configs: [] }],
  });
  const endpoint = `http://127.0.0.1:${(await s3.run()).port}`;
  const secretKey = randomBytes(32).toString('hex');
  const admin = newToken('adm');
  const adminTokenFile = join(dir, 'admin-token');
  await writeFile(adminTokenFile, `${admin}\n`, { mode: 0o400 });
  const replicas: Replica[] = [];
  for (let i = 0; i < (o.count ?? 2); i++) {
    const name = String.fromCharCode(97 + i);
    const port = await freePort();
    replicas.push({ name, port, url: `http://127.0.0.1:${port}`, dataDir: join(dir, name) });
  }
  const start = async (r: Replica): Promise<Proc> => {
    const proc = spawnCli(
      [
        'server',
        '--port',
        String(r.port),
        '--data',
        r.dataDir,
        '--database',
        db.url,
        '--blobs',
        `s3://${BUCKET}?endpoint=${endpoint}`,
        '--admin-token-file',
        adminTokenFile,
        '--lease-ttl',
        String(o.leaseTtl),
        '--log-level',
        o.logLevel ?? 'warn',
        ...(o.args ?? []),
      ],
      {
        SLIPWAY_SECRET_KEY: secretKey,
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
        ...o.env,
      },
    );
    r.proc = proc;
    await proc.waitFor(/listening on/, 60_000);
    return proc;
  };
  for (const r of replicas) await start(r);
  const proxy = new RoundRobinProxy(replicas.map((r) => ({ host: '127.0.0.1', port: r.port })));
  const viaProxy = await proxy.start();
  return {
    db,
    replicas,
    proxy,
    viaProxy,
    admin,
    adminTokenFile,
    dir,
    start,
    async kill(r) {
      const proc = r.proc;
      r.proc = undefined;
      proc?.kill('SIGKILL');
      await proc?.exited;
    },
    async stop() {
      for (const r of replicas) {
        r.proc?.kill('SIGKILL');
        await r.proc?.exited;
      }
      await proxy.stop();
      await s3.close();
      await db.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
