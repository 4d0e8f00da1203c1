import { describe, expect, it } from 'vitest';
import { listAgentsQuery, poolDemandQuery } from './schemas.js';

describe('poolDemandQuery', () => {
  it.each([
    [{}, 0],
    [{ waitMs: '2500' }, 2500],
    [{ waitMs: '0' }, 0],
    [{ waitMs: '99999' }, 30_000],
    [{ waitMs: '-5' }, 0],
    [{ waitMs: 'soon' }, 0],
    [{ waitMs: '' }, 0],
    [{ waitMs: ['1', '2'] }, 0],
  ])('reads %j as waiting %d ms, as fleets of every version expect', (query, waitMs) => {
    expect(poolDemandQuery.parse(query)).toEqual({ waitMs });
  });
});

describe('listAgentsQuery', () => {
  it('takes an optional pool name and ignores other keys', () => {
    expect(listAgentsQuery.parse({})).toEqual({});
    expect(listAgentsQuery.parse({ pool: 'gpu', other: 'x' })).toEqual({ pool: 'gpu' });
    expect(() => listAgentsQuery.parse({ pool: ['a', 'b'] })).toThrow();
  });
});
