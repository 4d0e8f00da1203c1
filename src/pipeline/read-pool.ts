import type { Issues } from './issues.js';
import { checkKeys, entryOf, type Located, mismatch, readString, readStringList } from './reader.js';
import type { Demand, PoolRef, SourcePos } from './types.js';
import type { YEntry } from './yaml-tree.js';

export const DEFAULT_POOL = 'default';
/** Azure's hosted pool: with it, `vmImage` chooses the machine. */
const HOSTED_POOL = 'azure pipelines';

/** A `pool:` as written: the name may be left to the enclosing pool or the default. */
export interface PoolSpec {
  name?: string;
  demands: Demand[];
  /** `vmImage`, mapped to a Slipway pool once macros (matrix values) are known. */
  vmImage?: Located<string>;
  pos?: SourcePos;
}

const POOL_KEYS = { context: 'pool', known: ['name', 'demands', 'vmImage'] } as const;

export function readPool(issues: Issues, entry: YEntry): PoolSpec | undefined {
  const { value } = entry;
  if (value.kind === 'scalar') {
    const name = readString(issues, entry);
    return name === undefined ? undefined : { name, demands: [], pos: value.pos };
  }
  if (value.kind !== 'map')
    return mismatch(issues, entry, 'a pool name or a mapping with name, demands or vmImage');
  checkKeys(issues, value, POOL_KEYS);
  const nameEntry = entryOf(value, 'name');
  const demandsEntry = entryOf(value, 'demands');
  const imageEntry = entryOf(value, 'vmImage');
  const name = nameEntry && readString(issues, nameEntry);
  const demands = demandsEntry ? readDemands(issues, demandsEntry) : [];
  const spec: PoolSpec = { demands, pos: value.pos };
  const vmImage = imageEntry && readString(issues, imageEntry);
  if (imageEntry && vmImage !== undefined) {
    if (name !== undefined && name.toLowerCase() !== HOSTED_POOL) {
      issues.add(imageEntry.keyPos, `a pool has either 'name' or 'vmImage', not both (pool '${name}')`);
      return undefined;
    }
    spec.vmImage = { value: vmImage, pos: imageEntry.value.pos };
    return spec;
  }
  if (name !== undefined) spec.name = name;
  return spec;
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
 * A job's (or stage's) pool replaces the enclosing one, except that a pool naming only demands
 * stays in the enclosing pool: that is what someone adding `demands: docker` to one job means.
 */
export function overlayPool(inner: PoolSpec | undefined, outer: PoolSpec | undefined): PoolSpec | undefined {
  if (inner === undefined) return outer;
  if (inner.name !== undefined || inner.vmImage !== undefined || outer === undefined) return inner;
  return { ...outer, demands: inner.demands };
}

/** How `$(macros)` in a pool become their values. */
export interface PoolResolution {
  expand: (text: string) => string;
}

/**
 * The pool a job runs in. A `vmImage` is kept in the plan for the server, which maps it to one
 * of its pools (it alone knows its mapping); until then the job names the default pool.
 */
export function resolvePool(issues: Issues, spec: PoolSpec | undefined, how: PoolResolution): PoolRef {
  const demands = (spec?.demands ?? []).map((d) => expandDemand(d, how.expand));
  if (spec?.vmImage === undefined) return { name: how.expand(spec?.name ?? DEFAULT_POOL), demands };
  const image = how.expand(spec.vmImage.value);
  issues.note(
    spec.vmImage.pos,
    `pool.vmImage '${image}' is mapped to a Slipway pool by the server when the run is queued ` +
      `(Linux images: pool '${DEFAULT_POOL}' unless 'slipway server --vm-image-pool' says otherwise)`,
  );
  return { name: DEFAULT_POOL, demands, vmImage: image };
}

function expandDemand(demand: Demand, expand: (text: string) => string): Demand {
  if (demand.op === 'exists') return { name: expand(demand.name), op: 'exists' };
  return { name: expand(demand.name), op: 'equals', value: expand(demand.value) };
}
