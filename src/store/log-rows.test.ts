import { expect, it } from 'vitest';
import { logRows } from './log-rows.js';

it('cuts an append into rows of at most N bytes, each ending between characters', () => {
  const body = Buffer.from(`ab${'é'.repeat(5)}€😀z`);
  const rows = logRows(body, 5);
  expect(Buffer.concat(rows).equals(body)).toBe(true);
  for (const row of rows) expect(row.length).toBeLessThanOrEqual(5);
  expect(rows.map((r) => r.toString('utf8'))).toEqual(['abé', 'éé', 'éé', '€', '😀z']);
  expect(logRows(Buffer.from('short'), 5)).toEqual([Buffer.from('short')]);
  expect(logRows(Buffer.alloc(0))).toEqual([]);
});
