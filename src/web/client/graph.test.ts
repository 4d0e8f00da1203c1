import { describe, expect, it } from 'vitest';
import { layoutGraph } from './graph.js';

const place = (jobs: { name: string; dependsOn: string[] }[]) =>
  layoutGraph(jobs).placed.map((p) => [p.job.name, p.column, p.row]);

describe('layoutGraph', () => {
  it('puts a job one column right of its latest dependency', () => {
    const jobs = [
      { name: 'build', dependsOn: [] },
      { name: 'lint', dependsOn: [] },
      { name: 'test', dependsOn: ['build'] },
      { name: 'deploy', dependsOn: ['test', 'lint'] },
    ];
    expect(place(jobs)).toEqual([
      ['build', 0, 0],
      ['lint', 0, 1],
      ['test', 1, 0],
      ['deploy', 2, 0],
    ]);
    const layout = layoutGraph(jobs);
    expect(layout.edges).toEqual([
      [0, 2],
      [2, 3],
      [1, 3],
    ]);
    expect([layout.columns, layout.rows]).toEqual([3, 2]);
  });

  it('leaves out an arrow another path implies (a stage waiting for a stage)', () => {
    const layout = layoutGraph([
      { name: 'build.compile', dependsOn: [] },
      { name: 'build.lint', dependsOn: [] },
      { name: 'test.unit', dependsOn: ['build.compile', 'build.lint'] },
      { name: 'test.e2e', dependsOn: ['test.unit', 'build.compile', 'build.lint'] },
    ]);
    expect(layout.edges).toEqual([
      [0, 2],
      [1, 2],
      [2, 3],
    ]);
  });

  it('matches names in any case and ignores dependencies it does not know', () => {
    expect(
      place([
        { name: 'Build', dependsOn: [] },
        { name: 'test', dependsOn: ['build', 'elsewhere'] },
      ]),
    ).toEqual([
      ['Build', 0, 0],
      ['test', 1, 0],
    ]);
  });

  it('draws a cycle flat instead of hanging', () => {
    expect(
      layoutGraph([
        { name: 'a', dependsOn: ['b'] },
        { name: 'b', dependsOn: ['a'] },
      ]).columns,
    ).toBeGreaterThan(0);
  });
});
