import { accessSync, constants } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import type { TaskContext } from '../types.js';
import { highestMatch, satisfies } from './versions.js';

/** What a tool task looks for. Nothing is ever downloaded. */
export interface ToolQuery {
  /** The tool as messages name it: `Python`, `Node.js`. */
  label: string;
  /** Its folder names in the tool cache (`Python`, `node`, `go`), as hosted images lay them out. */
  cacheNames: readonly string[];
  spec: string;
  /** The tool cache's architecture folder (`x64`). */
  arch: string;
  /** Folders of a version that go on PATH, relative to its architecture folder ('' for itself). */
  binDirs: readonly string[];
  /** Programs that are the tool, looked for on PATH in this order. */
  programs: readonly string[];
  versionArgs: readonly string[];
  /** The version in what `versionArgs` printed. */
  readVersion(output: string): string | undefined;
  /** How to provide it, ending the failure. */
  hint: string;
}

export interface ToolFound {
  version: string;
  /** The version's architecture folder in the tool cache, or the program's folder on PATH. */
  home: string;
  /** What goes in front of PATH, first first. */
  pathDirs: string[];
  source: 'tool cache' | 'PATH';
}

/** The tool cache: AGENT_TOOLSDIRECTORY (as hosted images set it), else Agent.ToolsDirectory. */
export function toolsDirectory(ctx: TaskContext): string | undefined {
  return (
    ctx.env.AGENT_TOOLSDIRECTORY ||
    ctx.variable('Agent.ToolsDirectory') ||
    ctx.env.RUNNER_TOOL_CACHE ||
    undefined
  );
}

async function isDir(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() === true;
}

/** Versions of `name` in the tool cache that have an `arch` folder. */
async function cachedVersions(root: string, name: string, arch: string): Promise<string[]> {
  const entries = await readdir(join(root, name)).catch(() => [] as string[]);
  const versions: string[] = [];
  for (const v of entries) if (await isDir(join(root, name, v, arch))) versions.push(v);
  return versions;
}

/** Every executable `program` on PATH, in PATH order. */
export function findAllOnPath(program: string, path: string | undefined): string[] {
  const found: string[] = [];
  for (const dir of (path ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, program);
    try {
      accessSync(candidate, constants.X_OK);
      if (!found.includes(candidate)) found.push(candidate);
    } catch {
      // not here
    }
  }
  return found;
}

export function findOnPath(program: string, path: string | undefined): string | undefined {
  return findAllOnPath(program, path)[0];
}

/**
 * The highest version in the tool cache that satisfies the spec, else the tool on PATH when
 * its version does; else a failure naming the version, what was found and how to provide it.
 */
export async function findTool(ctx: TaskContext, q: ToolQuery): Promise<ToolFound | { failure: string }> {
  const root = toolsDirectory(ctx);
  const seen: string[] = [];
  if (root) {
    for (const name of q.cacheNames) {
      const versions = await cachedVersions(root, name, q.arch);
      seen.push(...versions.map((v) => `${name}/${v}`));
      const best = highestMatch(versions, q.spec);
      if (best === undefined) continue;
      const home = join(root, name, best, q.arch);
      const pathDirs: string[] = [];
      for (const b of q.binDirs) if (await isDir(join(home, b))) pathDirs.push(join(home, b));
      return { version: best, home, pathDirs, source: 'tool cache' };
    }
  }
  const onPath: string[] = [];
  for (const found of q.programs.flatMap((p) => findAllOnPath(p, ctx.env.PATH))) {
    const res = await ctx.capture(found, [...q.versionArgs]);
    const version = res.exitCode === 0 ? q.readVersion(res.output) : undefined;
    if (version === undefined) continue;
    onPath.push(`${found} ${version}`);
    if (satisfies(version, q.spec) === true)
      return { version, home: dirname(found), pathDirs: [dirname(found)], source: 'PATH' };
  }
  const cache = root
    ? `the tool cache ${root} has ${seen.length > 0 ? seen.join(', ') : `no ${q.label}`}`
    : 'no tool cache is set (AGENT_TOOLSDIRECTORY)';
  const path = onPath.length > 0 ? `PATH has ${onPath.join(', ')}` : `PATH has no ${q.programs.join(' or ')}`;
  return {
    failure: `${q.label} ${q.spec} was not found (Slipway never downloads tools): ${cache}; ${path}. To provide it, ${q.hint}`,
  };
}

/** Puts the tool in front of PATH for later steps and logs where it came from. */
export function useTool(ctx: TaskContext, label: string, found: ToolFound): void {
  for (const dir of [...found.pathDirs].reverse()) ctx.prependPath(dir);
  ctx.log(`${label} ${found.version} from the ${found.source}: ${found.home}`);
  if (found.pathDirs.length > 0) ctx.log(`Prepended to PATH for later steps: ${found.pathDirs.join(', ')}`);
}

/** The usual advice, naming the tool cache folder the version would go in. */
export function provideHint(cacheName: string, spec: string, image: string): string {
  return (
    `use a job image that has it (container: ${image}), or mount a tool cache into the pool's ` +
    `containers with ${cacheName}/<version>/x64 for ${spec} and set AGENT_TOOLSDIRECTORY to it.`
  );
}
