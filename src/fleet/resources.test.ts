import { describe, expect, it } from 'vitest';
import { parseResourceLimits, withDefaultLimits } from './resources.js';

const GiB = 1024 ** 3;

describe('withDefaultLimits', () => {
  it('limits every container by default: at most 2 CPUs and 4 GiB, never half the host or more', () => {
    expect(withDefaultLimits({}, { cpus: 16, memoryBytes: 64 * GiB })).toEqual({
      cpus: 2,
      memoryBytes: 4 * GiB,
    });
    expect(withDefaultLimits({}, { cpus: 1, memoryBytes: 2 * GiB })).toEqual({ cpus: 1, memoryBytes: GiB });
  });

  it('keeps what the flags say', () => {
    const flags = parseResourceLimits({ cpus: '6', memory: '12g', pids: '100' });
    expect(withDefaultLimits(flags, { cpus: 16, memoryBytes: 64 * GiB })).toEqual({
      cpus: 6,
      memoryBytes: 12 * GiB,
      pids: 100,
    });
  });
});
