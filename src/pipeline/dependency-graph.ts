import type { Issues } from './issues.js';
import type { Located } from './reader.js';
import type { SourcePos } from './types.js';

/** A job in a stage, or a stage in the pipeline, as the graph checks see it. */
export interface GraphNode {
  name: string;
  namePos: SourcePos;
  pos: SourcePos;
  dependsOn: Array<Located<string>>;
  /** Filled by checkGraph: the dependencies as the depended-on nodes spell their names. */
  resolved: string[];
}

/**
 * Checks what needs all jobs of a stage (or all stages) at once: unique names
 * (case-insensitively, as Azure compares identifiers), dependencies that exist, and no cycles.
 */
export function checkGraph(issues: Issues, nodes: readonly GraphNode[], kind: 'job' | 'stage'): void {
  const byName = indexNodes(issues, nodes, kind);
  for (const node of nodes) {
    const deps = new Set<string>();
    for (const ref of node.dependsOn) {
      const target = byName.get(ref.value.toLowerCase());
      if (target) deps.add(target.name);
      else issues.add(ref.pos, `${kind} '${node.name}' depends on unknown ${kind} '${ref.value}'`);
    }
    node.resolved = [...deps];
  }
  reportCycles(issues, nodes, byName);
}

function indexNodes(issues: Issues, nodes: readonly GraphNode[], kind: string): Map<string, GraphNode> {
  const byName = new Map<string, GraphNode>();
  for (const node of nodes) {
    const key = node.name.toLowerCase();
    const first = byName.get(key);
    if (first === undefined) {
      byName.set(key, node);
      continue;
    }
    const file = first.namePos.file !== node.namePos.file ? `${first.namePos.file ?? issues.file}:` : '';
    const at = `${file}${first.namePos.line}:${first.namePos.col}`;
    issues.add(node.namePos, `duplicate ${kind} name '${node.name}' (${kind} '${first.name}' is at ${at})`);
  }
  return byName;
}

/**
 * Kahn's algorithm leaves exactly the nodes on or behind a cycle; walking dependencies from one
 * of them must come back round. Iterative, so a long chain of jobs cannot overflow the stack.
 */
function reportCycles(issues: Issues, nodes: readonly GraphNode[], byName: Map<string, GraphNode>): void {
  const depsOf = (node: GraphNode): GraphNode[] =>
    node.resolved.flatMap((name) => byName.get(name.toLowerCase()) ?? []);
  const unique = [...new Set(byName.values())];
  const waiting = new Map(unique.map((d) => [d, depsOf(d).length]));
  const dependents = new Map(unique.map((d) => [d, [] as GraphNode[]]));
  for (const node of unique) for (const dep of depsOf(node)) dependents.get(dep)?.push(node);
  const ready = unique.filter((d) => waiting.get(d) === 0);
  for (let next = ready.pop(); next !== undefined; next = ready.pop()) {
    waiting.delete(next);
    for (const dependent of dependents.get(next) ?? []) {
      const left = (waiting.get(dependent) ?? 0) - 1;
      waiting.set(dependent, left);
      if (left === 0) ready.push(dependent);
    }
  }
  const reported = new Set<GraphNode>();
  for (const start of nodes) {
    if (!waiting.has(start) || reported.has(start)) continue;
    const cycle = findCycle(start, (d) => depsOf(d).filter((dep) => waiting.has(dep)));
    if (cycle.some((d) => reported.has(d))) continue;
    for (const d of cycle) reported.add(d);
    const [first, second = first] = cycle;
    if (!first || !second) continue;
    const names = [...cycle, first].map((d) => d.name).join(' -> ');
    const edge = first.dependsOn.find((ref) => byName.get(ref.value.toLowerCase()) === second);
    issues.add(edge?.pos ?? first.namePos, `dependency cycle: ${names}`);
  }
}

/** The cycle reached from `start`, rotated to begin at its node written first. */
function findCycle(start: GraphNode, next: (node: GraphNode) => GraphNode[]): GraphNode[] {
  const path: GraphNode[] = [];
  const seen = new Map<GraphNode, number>();
  let current: GraphNode | undefined = start;
  while (current !== undefined && !seen.has(current)) {
    seen.set(current, path.length);
    path.push(current);
    current = next(current)[0];
  }
  const cycle = current === undefined ? [] : path.slice(seen.get(current));
  const firstWritten = cycle.reduce((best, d, i) => (order(d) < order(cycle[best] ?? d) ? i : best), 0);
  return [...cycle.slice(firstWritten), ...cycle.slice(0, firstWritten)];
}

function order(node: GraphNode): number {
  return node.pos.line * 1_000_000 + node.pos.col;
}
