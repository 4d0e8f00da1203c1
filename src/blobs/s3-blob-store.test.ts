import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobStoreContract } from './blob-store.contract.js';
import { S3BlobStore, s3BlobStoreFromUrl } from './s3-blob-store.js';

// s3rver: an S3-compatible server from npm, standing in for AWS S3, MinIO or Ceph (none reachable here).
const BUCKET = 'slipway-test';
let server: S3rver;
let dir: string;
let endpoint: string;
let client: S3Client;
let n = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-s3rver-'));
  server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: dir,
    configureBuckets: [{ name: BUCKET, configs: [] }],
  });
  const { port } = (await server.run()) as { port: number };
  endpoint = `http://127.0.0.1:${port}`;
  client = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Rewrites an object's bytes behind the store's back, keeping the metadata it recorded. */
async function damage(key: string, change: (bytes: Buffer) => Buffer) {
  const res = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  const bytes = Buffer.from(await res.Body!.transformToByteArray());
  await client.send(
    new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: change(bytes), Metadata: res.Metadata }),
  );
}

blobStoreContract('S3-compatible (s3rver)', async () => {
  const prefix = `t${++n}/`;
  return {
    store: new S3BlobStore({ client, bucket: BUCKET, prefix }),
    corrupt: (key) =>
      damage(prefix + key, (b) => {
        const copy = Buffer.from(b);
        const at = Math.floor(copy.length / 2);
        copy[at] = copy[at]! ^ 0xff;
        return copy;
      }),
    truncate: (key) => damage(prefix + key, (b) => b.subarray(0, b.length - 3)),
    cleanup: async () => undefined,
  };
});

describe('s3BlobStoreFromUrl', () => {
  it('reads bucket, prefix and endpoint from the URL and works against the server', async () => {
    process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
    process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
    try {
      const store = s3BlobStoreFromUrl(`s3://${BUCKET}/from-url?endpoint=${endpoint}`);
      await store.put('workspaces/w1.tar.gz', Buffer.from('hello'));
      expect((await store.list('workspaces/')).map((b) => b.key)).toEqual(['workspaces/w1.tar.gz']);
      // Under the prefix in the bucket, where another installation's keys do not collide.
      const raw = await client.send(
        new GetObjectCommand({ Bucket: BUCKET, Key: 'from-url/workspaces/w1.tar.gz' }),
      );
      expect(await raw.Body!.transformToString()).toBe('hello');
    } finally {
      delete process.env.AWS_ACCESS_KEY_ID;
      delete process.env.AWS_SECRET_ACCESS_KEY;
    }
  });

  it.each([
    ['s3://', /expected s3:\/\/BUCKET/],
    ['https://bucket/x', /expected s3:\/\/BUCKET/],
    ['s3://key:secret@bucket', /credentials do not belong in the URL/],
    ['s3://bucket?acl=public', /unknown option 'acl'/],
    ['s3://bucket/../x', /prefix is not valid/],
  ])('refuses %s with a clear message', (url, message) => {
    expect(() => s3BlobStoreFromUrl(url)).toThrow(message);
  });

  it('an object not written by Slipway (no checksum) is refused, not served', async () => {
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'raw/foreign', Body: 'raw bytes' }));
    const store = new S3BlobStore({ client, bucket: BUCKET, prefix: 'raw/' });
    await expect(store.get('foreign')).rejects.toThrow(/no recorded SHA-256/);
  });
});
