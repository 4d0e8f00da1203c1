import type { Issues } from './issues.js';
import { checkKeys, entryOf, mismatch, readString, readStringList } from './reader.js';
import type { Demand, PoolRef } from './types.js';
import type { YEntry } from './yaml-tree.js';

export const DEFAULT_POOL = 'default';

/** A `pool:` as written: the name may be left to the pipeline's pool or the default. */
export interface PoolSpec {
  name?: string;
  demands: Demand[];
}

const POOL_KEYS = { context: 'pool', known: ['name', 'demands'], unsupported: ['vmImage'] } as const;

export function readPool(issues: Issues, entry: YEntry): PoolSpec | undefined {
  const { value } = entry;
  if (value.kind === 'scalar') {
    const name = readString(issues, entry);
    return name === undefined ? undefined : { name, demands: [] };
  }
  if (value.kind !== 'map') return mismatch(issues, entry, 'a pool name or a mapping with name and demands');
  checkKeys(issues, value, POOL_KEYS);
  const nameEntry = entryOf(value, 'name');
  const demandsEntry = entryOf(value, 'demands');
  const name = nameEntry && readString(issues, nameEntry);
  const demands = demandsEntry ? readDemands(issues, demandsEntry) : [];
  return name === undefined ? { demands } : { name, demands };
}

function readDemands(issues: Issues, entry: YEntry): Demand[] {
  const demands: Demand[] = [];
  for (const { value, pos } of readStringList(issues, entry) ?? []) {
    const demand = parseDemand(value);
    if (demand) demands.push(demand);
    else issues.add(pos, `invalid demand '${value}': write 'name' or 'name -equals value'`);
  }
  return demands;
}

/** Azure Pipelines demand syntax: `name` or `name -equals value` (operator case-insensitive). */
export function parseDemand(text: string): Demand | undefined {
  const exists = /^\s*([^\s-]\S*)\s*$/.exec(text);
  if (exists?.[1] !== undefined) return { name: exists[1], op: 'exists' };
  const equals = /^\s*([^\s-]\S*)\s+-equals\s+(\S(?:.*\S)?)\s*$/i.exec(text);
  if (equals?.[1] !== undefined && equals[2] !== undefined)
    return { name: equals[1], op: 'equals', value: equals[2] };
  return undefined;
}

/**
 * A job's pool replaces the pipeline's, except that a job naming only demands stays in the
 * pipeline's pool: that is what someone adding `demands: docker` to one job means.
 */
export function resolvePool(job: PoolSpec | undefined, pipeline: PoolSpec | undefined): PoolRef {
  const name = job?.name ?? pipeline?.name ?? DEFAULT_POOL;
  return { name, demands: job ? job.demands : (pipeline?.demands ?? []) };
}
