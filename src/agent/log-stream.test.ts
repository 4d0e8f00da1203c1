import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { ApiClient } from '../protocol/client.js';
import { LogStream, MAX_CHUNK_BYTES, splitUtf8 } from './log-stream.js';

it('splits text into pieces of at most N bytes without cutting a character', () => {
  const text = `ab${'é'.repeat(5)}€😀z`;
  const pieces = splitUtf8(text, 5);
  expect(pieces.join('')).toBe(text);
  for (const p of pieces) expect(Buffer.byteLength(p)).toBeLessThanOrEqual(5);
  expect(pieces).toEqual(['abé', 'éé', 'éé', '€', '😀z']);
  expect(splitUtf8('short', 5)).toEqual(['short']);
});

/**
 * A coordinator's log endpoint, as the real one answers it: appends by offset, and a chunk that
 * starts past what is stored gets 409 `log_gap` with the stored length. `lose` acknowledges the
 * appends it names (by their number, from 1) without storing them, as a server that lost a
 * write would.
 */
async function logServer(lose: Set<number>) {
  let stored = Buffer.alloc(0);
  let appends = 0;
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      // The route's wire: the bytes as the body, where they go in the query.
      const offset = Number(new URL(req.url ?? '', 'http://x').searchParams.get('offset'));
      const body = { offset, data: Buffer.concat(parts) };
      res.setHeader('content-type', 'application/json');
      if (body.offset > stored.length) {
        res.statusCode = 409;
        const message = `log offset ${body.offset} is past the stored length ${stored.length}`;
        res.end(
          JSON.stringify({ error: { code: 'log_gap', message, offset: body.offset, length: stored.length } }),
        );
        return;
      }
      appends++;
      const data = body.data;
      const fresh = data.subarray(stored.length - body.offset);
      if (!lose.has(appends)) stored = Buffer.concat([stored, fresh]);
      res.end(JSON.stringify({ length: body.offset + data.length }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    text: () => stored.toString(),
    rollBack: (length: number) => {
      stored = stored.subarray(0, length);
    },
  };
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

function logStream(url: string) {
  const events = { leaseLost: 0 };
  const stream = new LogStream({
    client: new ApiClient(url),
    jobId: 'job-1',
    epoch: 1,
    step: 0,
    leaseToken: () => 'lease',
    secrets: [],
    retryForMs: 1_000,
    onLeaseLost: () => events.leaseLost++,
  });
  return { stream, events };
}

it('resends from the length the server has when it lost a chunk, rather than losing the lease', async () => {
  const server = await logServer(new Set([2]));
  const { stream, events } = logStream(server.url);
  for (const line of ['one\n', 'two\n', 'three\n', 'four\n']) {
    stream.write(line);
    await stream.sync();
  }
  await stream.close();
  expect(server.text()).toBe('one\ntwo\nthree\nfour\n');
  expect(events.leaseLost).toBe(0);
  expect(stream.failure).toBeUndefined();
});

it('fails the log, not the lease, when the server lost more than the agent still holds', async () => {
  const server = await logServer(new Set());
  const { stream, events } = logStream(server.url);
  const line = `${'x'.repeat(MAX_CHUNK_BYTES - 1)}\n`;
  for (let i = 0; i < 6; i++) {
    stream.write(line);
    await stream.sync();
  }
  // The server forgets all of it: the agent holds only the latest chunks, not the first.
  server.rollBack(0);
  stream.write('last\n');
  await stream.close();
  expect(events.leaseLost).toBe(0);
  expect(stream.failure).toMatch(/the server has 0 bytes of this log and lost what came after/);
});

it('gives up the lease, not the step, when the server stays out of reach for the whole retry window', async () => {
  // Nothing listens here: every append is refused at the connection.
  const server = await logServer(new Set());
  const url = server.url;
  await new Promise((r) => servers.pop()!.close(r));
  const { stream, events } = logStream(url);
  stream.write('lost while the coordinator restarts\n');
  await stream.close();
  expect(events.leaseLost).toBe(1);
  // A failed step would be reported as this job's result; a lost lease lets the server retry it.
  expect(stream.failure).toBeUndefined();
});
