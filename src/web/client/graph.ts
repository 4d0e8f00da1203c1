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
  /**
   * Dependency edges, as indexes into `placed` (from the job depended on to the one waiting),
   * without those another path already implies.
   */
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
  // Every job of a stage depends on every job of the stages it waits for: drawn as they are,
  // those arrows hide the shape. An arrow a → c is left out when c also waits for a through b.
  const direct = jobs.map((job) => [
    ...new Set(job.dependsOn.map((d) => byName.get(d.toLowerCase())).filter((j) => j !== undefined)),
  ]);
  const ancestors = new Map<number, Set<number>>();
  const ancestorsOf = (i: number, seen = new Set<number>()): Set<number> => {
    const known = ancestors.get(i);
    if (known) return known;
    const all = new Set<number>();
    if (seen.has(i)) return all;
    seen.add(i);
    for (const d of direct[i]!) {
      all.add(d);
      for (const a of ancestorsOf(d, seen)) all.add(a);
    }
    ancestors.set(i, all);
    return all;
  };
  const edges: [number, number][] = [];
  direct.forEach((deps, i) => {
    for (const d of deps) {
      const implied = deps.some((other) => other !== d && ancestorsOf(other).has(d));
      if (!implied) edges.push([d, i]);
    }
  });
  return { placed, edges, columns: rowsIn.length, rows: Math.max(0, ...rowsIn) };
}
