import { expect, it } from 'vitest';
import { splitUtf8 } from './log-stream.js';

it('splits text into pieces of at most N bytes without cutting a character', () => {
  const text = `ab${'é'.repeat(5)}€😀z`;
  const pieces = splitUtf8(text, 5);
  expect(pieces.join('')).toBe(text);
  for (const p of pieces) expect(Buffer.byteLength(p)).toBeLessThanOrEqual(5);
  expect(pieces).toEqual(['abé', 'éé', 'éé', '€', '😀z']);
  expect(splitUtf8('short', 5)).toEqual(['short']);
});
