import { describe, expect, it } from 'vitest';
import { LogModel } from './log-model.js';

describe('LogModel', () => {
  it('joins chunks that end mid-line and splits chunks that hold many lines', () => {
    const m = new LogModel();
    m.append('first li', 0);
    m.append('ne\nsecond\nthi', 0);
    m.append('rd\n', 0);
    expect(m.lines).toEqual(['first line', 'second', 'third']);
    expect(m.visible).toEqual([0, 1, 2]);
  });

  it('ends an open line when another step starts', () => {
    const m = new LogModel();
    m.append('no newline', 0);
    m.append('next step\n', 1);
    expect(m.lines).toEqual(['no newline', 'next step']);
    expect(m.steps).toEqual([0, 1]);
    expect(m.firstLines()).toEqual(
      new Map([
        [0, 0],
        [1, 1],
      ]),
    );
  });

  it('folds ##[group] blocks until opened, hides ##[endgroup], and nests', () => {
    const m = new LogModel();
    m.append('before\n##[group]Outer\na\n##[group]Inner\nb\n##[endgroup]\nc\n##[endgroup]\nafter\n', 0);
    expect(m.visible.map((i) => m.lines[i])).toEqual(['before', '##[group]Outer', 'after']);
    m.toggle(m.groupAt(1));
    expect(m.visible.map((i) => m.lines[i])).toEqual([
      'before',
      '##[group]Outer',
      'a',
      '##[group]Inner',
      'c',
      'after',
    ]);
    m.toggle(m.groupAt(1));
    expect(m.visible).toHaveLength(3);
  });

  it('finds lines in folded groups and opens them to show one', () => {
    const m = new LogModel();
    m.append('##[group]G\nneedle here\n##[endgroup]\nNEEDLE again\n', 0);
    expect(m.search('needle')).toEqual([1, 3]);
    expect(m.rowOf(1)).toBe(-1);
    m.reveal(1);
    expect(m.rowOf(1)).toBe(1);
  });

  it('keeps a growing group folded as its lines arrive', () => {
    const m = new LogModel();
    m.append('##[group]Live\n', 0);
    m.append('one\ntwo\n', 0);
    expect(m.visible).toEqual([0]);
  });

  it('holds 100,000 lines with one visible index each', () => {
    const m = new LogModel();
    const text = Array.from({ length: 100_000 }, (_, i) => `line ${i + 1}`).join('\n');
    m.append(`${text}\n`, 0);
    expect(m.length).toBe(100_000);
    expect(m.rowOf(99_999)).toBe(99_999);
    expect(m.search('line 77777')).toEqual([77_776]);
  });
});
