import { afterEach, expect, it } from 'vitest';
import { FeedFrameReader, type FeedItem } from '../../protocol/index.js';
import { type Coordinator, startCoordinator } from '../../test-support/coordinator.js';
import { feedStream } from './feed-stream.js';

let c: Coordinator;
afterEach(async () => {
  await c.stop();
});

async function read(frames: AsyncIterable<Buffer>): Promise<FeedItem[]> {
  const reader = new FeedFrameReader();
  const items: FeedItem[] = [];
  for await (const piece of frames) items.push(...reader.push(piece));
  expect(reader.pending).toBe(0);
  return items;
}

const logOf = (items: FeedItem[]) =>
  items.map((i) => ('event' in i && i.event.kind === 'log' ? i.event.data.text : '')).join('');

it('streams the log as it is appended, ends a page where to go on, and ends the feed after the last event', async () => {
  c = await startCoordinator();
  const run = await c.queue('steps: [{ script: a }]\n');
  const jobId = run.jobs[0]!.id;
  const { cred } = await c.claim(jobId);
  const o = { store: c.store, notifier: c.notifier, rows: { limit: 1000, bytes: 1024 * 1024 }, pageMs: 800 };
  const at = { epoch: cred.epoch!, step: 0 };

  // A page that waits: an append while it waits is sent at once, and the page ends where it was.
  const page = read(feedStream(o, run.id, 0));
  await new Promise((r) => setTimeout(r, 20));
  await c.jobs.appendLog(cred, jobId, { ...at, offset: 0 }, Buffer.from('one\n'));
  const first = await page;
  expect(logOf(first)).toBe('one\n');
  const end = first.at(-1) as { next: number; done: boolean };
  expect(end.done).toBe(false);
  expect(end.next).toBe(Math.max(...first.flatMap((i) => ('event' in i ? [i.event.seq] : []))));

  // From `next` on, nothing is sent twice; once the run is over, the feed says so.
  await c.jobs.appendLog(cred, jobId, { ...at, offset: 4 }, Buffer.from('two\n'));
  await c.jobs.complete(cred, jobId, { epoch: cred.epoch!, result: 'succeeded', outputs: {}, tags: [] });
  const rest = await read(feedStream(o, run.id, end.next));
  expect(logOf(rest)).toBe('two\n');
  expect(rest.at(-1)).toEqual({ next: expect.any(Number), done: true });
  expect(rest.some((i) => 'event' in i && i.event.kind === 'run')).toBe(true);
});
