import type { Issues } from './issues.js';
import type { JobDraft } from './read-job.js';

/**
 * Checks what needs all jobs at once: unique names (case-insensitively, as Azure compares
 * identifiers), dependencies that exist, and no cycles. Fills each plan's `dependsOn` with the
 * names as the depended-on jobs spell them.
 */
export function checkJobGraph(issues: Issues, drafts: readonly JobDraft[]): void {
  const byName = indexJobs(issues, drafts);
  for (const draft of drafts) {
    const deps = new Set<string>();
    for (const ref of draft.dependsOn) {
      const target = byName.get(ref.value.toLowerCase());
      if (target) deps.add(target.plan.name);
      else issues.add(ref.pos, `job '${draft.plan.name}' depends on unknown job '${ref.value}'`);
    }
    draft.plan.dependsOn = [...deps];
  }
  reportCycles(issues, drafts, byName);
}

function indexJobs(issues: Issues, drafts: readonly JobDraft[]): Map<string, JobDraft> {
  const byName = new Map<string, JobDraft>();
  for (const draft of drafts) {
    const key = draft.plan.name.toLowerCase();
    const first = byName.get(key);
    if (first === undefined) {
      byName.set(key, draft);
      continue;
    }
    const at = `${first.namePos.line}:${first.namePos.col}`;
    issues.add(
      draft.namePos,
      `duplicate job name '${draft.plan.name}' (job '${first.plan.name}' is at ${at})`,
    );
  }
  return byName;
}

/**
 * Kahn's algorithm leaves exactly the jobs on or behind a cycle; walking dependencies from one
 * of them must come back round. Iterative, so a long chain of jobs cannot overflow the stack.
 */
function reportCycles(issues: Issues, drafts: readonly JobDraft[], byName: Map<string, JobDraft>): void {
  const depsOf = (draft: JobDraft): JobDraft[] =>
    draft.plan.dependsOn.flatMap((name) => byName.get(name.toLowerCase()) ?? []);
  const unique = [...new Set(byName.values())];
  const waiting = new Map(unique.map((d) => [d, depsOf(d).length]));
  const dependents = new Map(unique.map((d) => [d, [] as JobDraft[]]));
  for (const draft of unique) for (const dep of depsOf(draft)) dependents.get(dep)?.push(draft);
  const ready = unique.filter((d) => waiting.get(d) === 0);
  for (let next = ready.pop(); next !== undefined; next = ready.pop()) {
    waiting.delete(next);
    for (const dependent of dependents.get(next) ?? []) {
      const left = (waiting.get(dependent) ?? 0) - 1;
      waiting.set(dependent, left);
      if (left === 0) ready.push(dependent);
    }
  }
  const reported = new Set<JobDraft>();
  for (const start of drafts) {
    if (!waiting.has(start) || reported.has(start)) continue;
    const cycle = findCycle(start, (d) => depsOf(d).filter((dep) => waiting.has(dep)));
    if (cycle.some((d) => reported.has(d))) continue;
    for (const d of cycle) reported.add(d);
    const [first, second = first] = cycle;
    if (!first || !second) continue;
    const names = [...cycle, first].map((d) => d.plan.name).join(' -> ');
    const edge = first.dependsOn.find((ref) => byName.get(ref.value.toLowerCase()) === second);
    issues.add(edge?.pos ?? first.namePos, `dependency cycle: ${names}`);
  }
}

/** The cycle reached from `start`, rotated to begin at its job written first. */
function findCycle(start: JobDraft, next: (draft: JobDraft) => JobDraft[]): JobDraft[] {
  const path: JobDraft[] = [];
  const seen = new Map<JobDraft, number>();
  let current: JobDraft | undefined = start;
  while (current !== undefined && !seen.has(current)) {
    seen.set(current, path.length);
    path.push(current);
    current = next(current)[0];
  }
  const cycle = current === undefined ? [] : path.slice(seen.get(current));
  const firstWritten = cycle.reduce((best, d, i) => (order(d) < order(cycle[best] ?? d) ? i : best), 0);
  return [...cycle.slice(firstWritten), ...cycle.slice(0, firstWritten)];
}

function order(draft: JobDraft): number {
  return draft.plan.pos.line * 1_000_000 + draft.plan.pos.col;
}
