/**
 * `trigger`, `pr` and `schedules` as Azure Pipelines documents them, read from the plan's JSON
 * into typed filters, and the pure decisions made with them. No I/O: the caller brings the ref,
 * the changed paths and the pull request's facts.
 */

/** Include and exclude patterns; an empty include means "everything". */
export interface Filter {
  include: string[];
  exclude: string[];
}

export interface CiTrigger {
  /** `trigger: none`. */
  enabled: boolean;
  /** Azure's `batch`: while a CI run of the branch is in progress, pushes wait and are built as one. */
  batch: boolean;
  branches: Filter;
  tags: Filter;
  paths: Filter;
  /** Whether `tags` (or a `refs/tags/…` branch pattern) was written: without it, tags build nothing. */
  tagsGiven: boolean;
}

export interface PrTrigger {
  enabled: boolean;
  /** Cancel the pull request's earlier runs still going when it is updated. Default true. */
  autoCancel: boolean;
  /** Build draft pull requests. Default true. */
  drafts: boolean;
  /** Filters on the target branch. */
  branches: Filter;
  paths: Filter;
}

export interface Schedule {
  cron: string;
  displayName: string;
  branches: Filter;
  /** Run even when the branch has not changed since the schedule's last run. Default false. */
  always: boolean;
}

export interface Triggers {
  trigger: CiTrigger;
  pr: PrTrigger;
  schedules: Schedule[];
}

/** A `trigger`, `pr` or `schedules` value that does not read; the message names the key. */
export class TriggerSyntaxError extends Error {}

const all = (): Filter => ({ include: [], exclude: [] });

/** Reads the plan's `triggers` (JSON as written); absent keys take Azure's defaults. */
export function readTriggers(
  raw: { trigger?: unknown; pr?: unknown; schedules?: unknown } | undefined,
): Triggers {
  return {
    trigger: readCi(raw?.trigger),
    pr: readPr(raw?.pr),
    schedules: readSchedules(raw?.schedules),
  };
}

function readCi(value: unknown): CiTrigger {
  const ci: CiTrigger = {
    enabled: true,
    batch: false,
    branches: all(),
    tags: all(),
    paths: all(),
    tagsGiven: false,
  };
  if (value === undefined || value === null) return ci;
  if (value === 'none' || value === false) return { ...ci, enabled: false };
  if (typeof value === 'string' || Array.isArray(value)) {
    ci.branches = { include: stringList('trigger', value), exclude: [] };
  } else if (isObject(value)) {
    checkKeys('trigger', value, ['batch', 'branches', 'paths', 'tags']);
    ci.batch = readBool('trigger.batch', value.batch, false);
    if (value.branches !== undefined) ci.branches = readFilter('trigger.branches', value.branches);
    if (value.paths !== undefined) ci.paths = readFilter('trigger.paths', value.paths);
    if (value.tags !== undefined) {
      ci.tags = readFilter('trigger.tags', value.tags);
      ci.tagsGiven = true;
    }
  } else {
    throw new TriggerSyntaxError("trigger: expected 'none', a list of branches or a mapping");
  }
  if (ci.branches.include.some((p) => p.startsWith('refs/tags/'))) ci.tagsGiven = true;
  return ci;
}

function readPr(value: unknown): PrTrigger {
  const pr: PrTrigger = { enabled: true, autoCancel: true, drafts: true, branches: all(), paths: all() };
  if (value === undefined || value === null) return pr;
  if (value === 'none' || value === false) return { ...pr, enabled: false };
  if (typeof value === 'string' || Array.isArray(value)) {
    pr.branches = { include: stringList('pr', value), exclude: [] };
  } else if (isObject(value)) {
    checkKeys('pr', value, ['autoCancel', 'branches', 'paths', 'drafts']);
    pr.autoCancel = readBool('pr.autoCancel', value.autoCancel, true);
    pr.drafts = readBool('pr.drafts', value.drafts, true);
    if (value.branches !== undefined) pr.branches = readFilter('pr.branches', value.branches);
    if (value.paths !== undefined) pr.paths = readFilter('pr.paths', value.paths);
  } else {
    throw new TriggerSyntaxError("pr: expected 'none', a list of branches or a mapping");
  }
  return pr;
}

function readSchedules(value: unknown): Schedule[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new TriggerSyntaxError('schedules: expected a list');
  return value.map((item, i) => {
    const at = `schedules[${i}]`;
    if (!isObject(item)) throw new TriggerSyntaxError(`${at}: expected a mapping with 'cron'`);
    checkKeys(at, item, ['cron', 'displayName', 'branches', 'always', 'batch']);
    if (typeof item.cron !== 'string') throw new TriggerSyntaxError(`${at}.cron: expected a cron expression`);
    if (item.batch !== undefined) throw new TriggerSyntaxError(`${at}.batch: not supported yet by Slipway`);
    return {
      cron: item.cron.trim(),
      displayName: typeof item.displayName === 'string' ? item.displayName : item.cron.trim(),
      branches: item.branches === undefined ? all() : readFilter(`${at}.branches`, item.branches),
      always: readBool(`${at}.always`, item.always, false),
    };
  });
}

function readFilter(at: string, value: unknown): Filter {
  if (typeof value === 'string' || Array.isArray(value))
    return { include: stringList(at, value), exclude: [] };
  if (!isObject(value)) throw new TriggerSyntaxError(`${at}: expected a list or include/exclude`);
  checkKeys(at, value, ['include', 'exclude']);
  return {
    include: value.include === undefined ? [] : stringList(`${at}.include`, value.include),
    exclude: value.exclude === undefined ? [] : stringList(`${at}.exclude`, value.exclude),
  };
}

function stringList(at: string, value: unknown): string[] {
  const list = Array.isArray(value) ? value : [value];
  return list.map((v, i) => {
    if (typeof v !== 'string' && typeof v !== 'number')
      throw new TriggerSyntaxError(`${at}[${i}]: expected a string`);
    return String(v).trim();
  });
}

function readBool(at: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new TriggerSyntaxError(`${at}: expected true or false`);
}

function checkKeys(at: string, value: Record<string, unknown>, known: string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key))
      throw new TriggerSyntaxError(`${at}.${key}: not a key of '${at.split(/[.[]/)[0]}'`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ── Matching ──

/**
 * Azure's wildcards: `*` any run of characters (slashes too, as Azure's branch filters do), `?`
 * one character. Case-sensitive, as git refs are.
 */
export function wildcardMatch(pattern: string, text: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  return re.test(text);
}

/** A branch filter pattern against a full ref: `main` and `refs/heads/main` name the same branch. */
export function branchMatches(pattern: string, ref: string): boolean {
  if (pattern.startsWith('refs/')) return wildcardMatch(pattern, ref);
  return ref.startsWith('refs/heads/') && wildcardMatch(pattern, ref.slice('refs/heads/'.length));
}

function tagMatches(pattern: string, ref: string): boolean {
  if (pattern.startsWith('refs/')) return wildcardMatch(pattern, ref);
  return ref.startsWith('refs/tags/') && wildcardMatch(pattern, ref.slice('refs/tags/'.length));
}

/** Included (an empty include takes all) and not excluded: exclude wins. */
function passes(filter: Filter, matches: (pattern: string) => boolean): boolean {
  const included = filter.include.length === 0 || filter.include.some(matches);
  return included && !filter.exclude.some(matches);
}

/**
 * A path filter pattern: a path without wildcards takes itself and everything below it
 * (`docs` takes `docs/a.md`); with them, `*` and `?` stay within one path segment and `**`
 * crosses segments. Paths are relative to the repository root, without a leading `/`.
 */
export function pathMatches(pattern: string, path: string): boolean {
  const p = pattern.replace(/^\/+/, '').replace(/\/+$/, '');
  if (p === '' || p === '*' || p === '**') return true;
  if (!/[*?]/.test(p)) return path === p || path.startsWith(`${p}/`);
  const re = p
    .split('**')
    .map((part) =>
      part
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '[^/]*')
        .replace(/\?/g, '[^/]'),
    )
    .join('.*');
  return new RegExp(`^${re}(/.*)?$`).test(path);
}

/** Whether any changed path passes the filter; unknown changes (a new branch) pass. */
export function pathsPass(filter: Filter, changed: string[] | undefined): boolean {
  if (filter.include.length === 0 && filter.exclude.length === 0) return true;
  if (changed === undefined) return true;
  return changed.some((path) => passes(filter, (pattern) => pathMatches(pattern, path)));
}

/** Whether a push of `ref` (`refs/heads/…` or `refs/tags/…`) runs the CI trigger. */
export function ciTriggered(ci: CiTrigger, push: { ref: string; changedPaths?: string[] }): boolean {
  if (!ci.enabled) return false;
  if (push.ref.startsWith('refs/tags/')) {
    if (!ci.tagsGiven) return false;
    const byTag =
      (ci.tags.include.length > 0 || ci.tags.exclude.length > 0) &&
      passes(ci.tags, (p) => tagMatches(p, push.ref));
    const byBranchList = ci.branches.include.some(
      (p) => p.startsWith('refs/tags/') && wildcardMatch(p, push.ref),
    );
    // Azure: tags ignore path filters.
    return byTag || byBranchList;
  }
  if (!push.ref.startsWith('refs/heads/')) return false;
  if (!passes(ci.branches, (p) => branchMatches(p, push.ref))) return false;
  return pathsPass(ci.paths, push.changedPaths);
}

/** Whether a pull request into `targetRef` (opened, updated or reopened) runs the PR trigger. */
export function prTriggered(
  pr: PrTrigger,
  event: { targetRef: string; draft: boolean; changedPaths?: string[] },
): boolean {
  if (!pr.enabled) return false;
  if (event.draft && !pr.drafts) return false;
  if (!passes(pr.branches, (p) => branchMatches(p, event.targetRef))) return false;
  return pathsPass(pr.paths, event.changedPaths);
}

/** The branches (full refs) a schedule runs on, of those the repository has; default its default branch. */
export function scheduleBranches(schedule: Schedule, refs: string[], defaultRef: string): string[] {
  const filter = schedule.branches;
  if (filter.include.length === 0 && filter.exclude.length === 0)
    return refs.includes(defaultRef) ? [defaultRef] : [];
  return refs.filter((ref) => ref.startsWith('refs/heads/') && passes(filter, (p) => branchMatches(p, ref)));
}
