import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAll, spawnAgent, spawnCli, startTestServer } from '../test-support/harness.js';

// s3rver: an S3-compatible server from npm, standing in for AWS S3, MinIO or Ceph (none reachable here).
const BUCKET = 'slipway-blobs';
let s3: S3rver;
let dir: string;
let endpoint: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-blobs-flag-'));
  s3 = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: join(dir, 's3'),
    configureBuckets: [{ name: BUCKET, configs: [] }],
  });
  endpoint = `http://127.0.0.1:${(await s3.run()).port}`;
  process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
});

afterAll(async () => {
  killAll();
  delete process.env.AWS_ACCESS_KEY_ID;
  delete process.env.AWS_SECRET_ACCESS_KEY;
  await s3?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('--blobs s3://… (SLIPWAY_BLOBS)', () => {
  it('keeps workspaces and artifacts in the bucket, under the prefix, and none on local disk', async () => {
    const ts = await startTestServer({ blobs: `s3://${BUCKET}/ci-1?endpoint=${endpoint}` });
    try {
      const work = await mkdtemp(join(dir, 'work-'));
      await writeFile(join(work, 'input.txt'), 'from the workspace\n');
      await writeFile(
        join(work, 'azure-pipelines.yml'),
        [
          'steps:',
          '- bash: cat input.txt && mkdir out && cp input.txt out/copied.txt',
          '- publish: out',
          '  artifact: result',
          '',
        ].join('\n'),
      );
      await spawnAgent(ts, 'blob-agent');
      const env = { SLIPWAY_URL: ts.url, SLIPWAY_TOKEN: ts.adminToken };
      const run = spawnCli(['run', '--dir', work], env);
      expect(await run.exited, run.output()).toBe(0);
      expect(run.output()).toContain('from the workspace');

      const listed = await new S3Client({
        region: 'us-east-1',
        endpoint,
        forcePathStyle: true,
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      }).send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'ci-1/' }));
      const keys = (listed.Contents ?? []).map((o) => o.Key);
      expect(keys.some((k) => k?.startsWith('ci-1/workspaces/'))).toBe(true);
      expect(keys.some((k) => k?.startsWith('ci-1/artifacts/'))).toBe(true);
      expect(existsSync(join(ts.dir, 'data', 'blobs'))).toBe(false);

      // Read back through the coordinator from the bucket.
      const into = join(dir, 'downloaded');
      const download = spawnCli(['artifact', 'download', '1', 'result', '--to', into], env);
      expect(await download.exited, download.output()).toBe(0);
      expect(await readdir(into, { recursive: true })).toContain('copied.txt');
    } finally {
      await ts.stop();
    }
  });

  it('slipway server refuses a URL that is not s3:// at start (exit 2), naming the flag', async () => {
    const data = join(dir, 'bad-url');
    const proc = spawnCli(['server', '--port', '0', '--data', data], { SLIPWAY_BLOBS: 'ftp://files/x' });
    expect(await proc.exited).toBe(2);
    expect(proc.output()).toContain("--blobs (SLIPWAY_BLOBS) 'ftp://files/x' is not a blob store URL");
    expect(existsSync(data)).toBe(false);
  });
});
