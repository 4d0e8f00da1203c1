import { describe, expect, it } from 'vitest';
import { afterLabel, branchName, span } from './format.js';

describe('afterLabel', () => {
  it('says the label once when the reason starts with it', () => {
    expect(afterLabel('Waiting', "waiting for an agent in pool 'default': 0 idle, 1 busy")).toBe(
      "for an agent in pool 'default': 0 idle, 1 busy",
    );
  });
  it('keeps a reason that does not start with the label', () => {
    expect(afterLabel('Cannot run', "no agent in pool 'gpu' meets cuda")).toBe(
      "no agent in pool 'gpu' meets cuda",
    );
    expect(afterLabel('Waiting', 'waitingroom is full')).toBe('waitingroom is full');
    expect(afterLabel(undefined, 'waiting for x')).toBe('waiting for x');
  });
});

describe('run list cells', () => {
  it('shows a running span up to now and a branch without refs/heads/', () => {
    const start = '2026-12-01T10:00:00.000Z';
    expect(span(start, null, Date.parse('2026-12-01T10:01:05.000Z'))).toBe('1m 05s');
    expect(branchName('refs/heads/feature/x')).toBe('feature/x');
  });
});
