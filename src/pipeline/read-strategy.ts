import type { Issues } from './issues.js';
import { isRuntimeExpression, readVariable, type Variable } from './read-variables.js';
import { checkKeys, entryOf, expectMap, mismatch, readCount } from './reader.js';
import type { SourcePos } from './types.js';
import { describeNode, type YEntry } from './yaml-tree.js';

/** One copy of a job: a matrix leg, or one slice of `parallel: N`. */
export interface Leg {
  /** The matrix leg name as written, or the 1-based position for `parallel`. */
  name: string;
  /** The leg's variables, plus System.JobPositionInPhase and System.TotalJobsInPhase. */
  variables: Variable[];
}

export interface Strategy {
  legs: Leg[];
  /** 0: no limit. */
  maxParallel: number;
  pos: SourcePos;
}

/** Each leg is a job of its own, so legs count against MAX_JOBS; this is only a first bound. */
const MAX_LEGS = 256;
const STRATEGY_KEYS = { context: 'strategy', known: ['matrix', 'parallel', 'maxParallel'] };

/** `strategy:` of a job: `matrix` (with `maxParallel`) or `parallel: N`. */
export function readStrategy(issues: Issues, entry: YEntry): Strategy | undefined {
  const map = expectMap(issues, entry.value, "'strategy'");
  if (!map) return undefined;
  const deployment = map.entries.find((e) => ['runOnce', 'rolling', 'canary'].includes(e.key));
  if (deployment) {
    issues.add(
      deployment.keyPos,
      `'${deployment.key}' is a deployment strategy: use it in a 'deployment:' job`,
    );
    return undefined;
  }
  checkKeys(issues, map, STRATEGY_KEYS);
  const matrix = entryOf(map, 'matrix');
  const parallel = entryOf(map, 'parallel');
  const maxParallelEntry = entryOf(map, 'maxParallel');
  const maxParallel = (maxParallelEntry && readCount(issues, maxParallelEntry)) ?? 0;
  if (matrix && parallel) {
    issues.add(parallel.keyPos, "a strategy has either 'matrix' or 'parallel', not both");
    return undefined;
  }
  const legs = matrix ? readMatrix(issues, matrix) : parallel ? readParallel(issues, parallel) : undefined;
  // `maxParallel` alone (templates leave the rest out) is one job, as in Azure.
  if (!matrix && !parallel) return undefined;
  return legs === undefined ? undefined : { legs: numbered(legs), maxParallel, pos: map.pos };
}

function readMatrix(
  issues: Issues,
  entry: YEntry,
): Array<Omit<Leg, 'variables'> & { own: Variable[] }> | undefined {
  const { value } = entry;
  if (value.kind === 'scalar' && isRuntimeExpression(value.value)) {
    issues.add(value.pos, "a matrix from a runtime expression ('$[ ]') is not supported yet by Slipway");
    return undefined;
  }
  if (value.kind !== 'map') return mismatch(issues, entry, 'a mapping of leg names to variables');
  if (value.entries.length === 0) {
    issues.add(value.pos, "'matrix' must define at least one leg");
    return undefined;
  }
  const extra = value.entries[MAX_LEGS];
  if (extra) {
    issues.add(extra.keyPos, `a matrix may have at most ${MAX_LEGS} legs`);
    return undefined;
  }
  const legs: Array<{ name: string; own: Variable[] }> = [];
  const seen = new Set<string>();
  for (const leg of value.entries) {
    if (leg.key.trim() === '') {
      issues.add(leg.keyPos, 'a matrix leg needs a name');
      continue;
    }
    if (seen.has(leg.key.toLowerCase())) {
      issues.add(leg.keyPos, `duplicate matrix leg '${leg.key}'`);
      continue;
    }
    seen.add(leg.key.toLowerCase());
    const own = readLegVariables(issues, leg);
    if (own) legs.push({ name: leg.key, own });
  }
  return legs;
}

function readLegVariables(issues: Issues, leg: YEntry): Variable[] | undefined {
  const { value } = leg;
  if (value.kind === 'null') return [];
  if (value.kind !== 'map') {
    issues.add(
      value.pos,
      `matrix leg '${leg.key}' must be a mapping of variables, found ${describeNode(value)}`,
    );
    return undefined;
  }
  return value.entries.flatMap(
    (e) => readVariable(issues, e.key, e.keyPos, e, false, { runtime: false }) ?? [],
  );
}

function readParallel(issues: Issues, entry: YEntry): Array<{ name: string; own: Variable[] }> | undefined {
  const count = readCount(issues, entry);
  if (count === undefined) return undefined;
  if (count < 1 || count > MAX_LEGS) {
    issues.add(entry.value.pos, `'parallel' must be from 1 to ${MAX_LEGS}, found ${count}`);
    return undefined;
  }
  return Array.from({ length: count }, (_, i) => ({ name: String(i + 1), own: [] }));
}

function numbered(legs: Array<{ name: string; own: Variable[] }>): Leg[] {
  const total = String(legs.length);
  return legs.map((leg, i) => ({
    name: leg.name,
    variables: [
      { name: 'System.JobPositionInPhase', value: String(i + 1), readonly: false },
      { name: 'System.TotalJobsInPhase', value: total, readonly: false },
      ...leg.own,
    ],
  }));
}
