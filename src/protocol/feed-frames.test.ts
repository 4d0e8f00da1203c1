import { expect, it } from 'vitest';
import { encodeFrameHead, FeedFrameReader, type FeedItem } from './feed-frames.js';

const head = {
  runId: 'r',
  at: '2026-01-01T00:00:00.000Z',
  jobId: 'j',
  jobName: 'build',
  attempt: 1,
  step: 0,
};
const log = 'héllo\n€ wörld 😀\n';
const stream = Buffer.concat([
  encodeFrameHead({
    ...head,
    seq: 1,
    kind: 'step',
    data: { status: 'running', name: 'print', result: null, reason: null },
  }),
  encodeFrameHead({ ...head, seq: 2, kind: 'log', bytes: Buffer.byteLength(log) }),
  Buffer.from(log),
  // A line of the log that looks like a frame is only log: its length was announced.
  encodeFrameHead({ ...head, seq: 3, kind: 'log', bytes: 18 }),
  Buffer.from('{"next":9,"done":1'),
  encodeFrameHead({ next: 3, done: true }),
]);

it('reads the same events however the stream is cut, log bytes outside JSON and decoded whole', () => {
  const expected: FeedItem[] = [
    {
      event: {
        ...head,
        seq: 1,
        kind: 'step',
        data: { status: 'running', name: 'print', result: null, reason: null },
      },
    },
    { event: { ...head, seq: 2, kind: 'log', data: { text: log } }, bytes: Buffer.from(log) },
    {
      event: { ...head, seq: 3, kind: 'log', data: { text: '{"next":9,"done":1' } },
      bytes: Buffer.from('{"next":9,"done":1'),
    },
    { next: 3, done: true },
  ];
  for (let cut = 0; cut <= stream.length; cut++) {
    const reader = new FeedFrameReader();
    const items = [...reader.push(stream.subarray(0, cut)), ...reader.push(stream.subarray(cut))];
    expect(items).toEqual(expected);
    expect(reader.pending).toBe(0);
  }
  const oneByOne = new FeedFrameReader();
  const items: FeedItem[] = [];
  for (let i = 0; i < stream.length; i++) items.push(...oneByOne.push(stream.subarray(i, i + 1)));
  expect(items).toEqual(expected);
});

it('refuses a frame line that is not a frame', () => {
  expect(() => new FeedFrameReader().push(Buffer.from('{"kind":"nope"}\n'))).toThrow();
});
