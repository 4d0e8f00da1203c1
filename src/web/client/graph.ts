/** A job as the graph needs it. */
export interface GraphJob {
  name: string;
  dependsOn: string[];
}

export interface PlacedJob<J extends GraphJob> {
  job: J;
  column: number;
  row: number;
}

export interface GraphLayout<J extends GraphJob> {
  placed: PlacedJob<J>[];
  /** Dependency edges, as indexes into `placed` (from the job depended on to the one waiting). */
  edges: [number, number][];
  columns: number;
  rows: number;
}

/**
 * Places jobs in columns by how many jobs they wait for in a row (a job is one column right of
 * its latest dependency), in the run's order within a column. Pure, so it is table-tested.
 */
export function layoutGraph<J extends GraphJob>(jobs: J[]): GraphLayout<J> {
  const byName = new Map(jobs.map((j, i) => [j.name.toLowerCase(), i]));
  const depth = new Map<number, number>();
  const visiting = new Set<number>();
  const depthOf = (i: number): number => {
    const known = depth.get(i);
    if (known !== undefined) return known;
    // A cycle cannot come from a valid plan; if one did, it is drawn flat instead of hanging.
    if (visiting.has(i)) return 0;
    visiting.add(i);
    let d = 0;
    for (const dep of jobs[i]!.dependsOn) {
      const j = byName.get(dep.toLowerCase());
      if (j !== undefined) d = Math.max(d, depthOf(j) + 1);
    }
    visiting.delete(i);
    depth.set(i, d);
    return d;
  };
  const rowsIn: number[] = [];
  const placed = jobs.map((job, i) => {
    const column = depthOf(i);
    const row = rowsIn[column] ?? 0;
    rowsIn[column] = row + 1;
    return { job, column, row };
  });
  const edges: [number, number][] = [];
  jobs.forEach((job, i) => {
    for (const dep of job.dependsOn) {
      const j = byName.get(dep.toLowerCase());
      if (j !== undefined) edges.push([j, i]);
    }
  });
  return { placed, edges, columns: rowsIn.length, rows: Math.max(0, ...rowsIn) };
}
