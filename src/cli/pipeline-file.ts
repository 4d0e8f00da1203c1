import { execFile } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { MAX_PIPELINE_BYTES, type ReadFile, type RunSource } from '../pipeline/index.js';
import { CliError, EXIT } from './exit-codes.js';

const execFileAsync = promisify(execFile);

/** What `slipway run` looks for in its folder when no pipeline is named, in this order. */
export const DEFAULT_PIPELINES = [
  'azure-pipelines.yml',
  'azure-pipelines.yaml',
  '.slipway.yml',
  '.slipway.yaml',
] as const;

/** A pipeline file found and read, with where its templates come from. */
export interface PipelineSource {
  /** The file's absolute path. */
  path: string;
  /**
   * The folder its templates are read from, and `/`-rooted template paths start at: the
   * workspace (`--dir`) when it holds the pipeline, else the git work tree that does, else the
   * pipeline's own folder. Nothing outside it is read, symbolic links included.
   */
  root: string;
  /** The file's path relative to `root`, `/`-separated: the name the compiler and the server use. */
  name: string;
  text: string;
  /** Reads a template by its path relative to `root`. */
  readTemplate: ReadFile;
  /** A file name in an error (relative to `root`) → how to show it to the user who named `given`. */
  shown(file: string): string;
}

export interface FindPipelineOptions {
  /** The pipeline as the user named it; default: the first of DEFAULT_PIPELINES in `dir`. */
  given?: string;
  /** The workspace folder, when there is one (`slipway run --dir`). */
  dir?: string;
  /** Where relative paths start; default the process's working directory. */
  cwd?: string;
}

/** Finds, reads and roots a pipeline file (see PipelineSource). Exit 2 when there is none. */
export async function findPipeline(o: FindPipelineOptions): Promise<PipelineSource> {
  const cwd = o.cwd ?? process.cwd();
  const dir = o.dir === undefined ? undefined : resolve(cwd, o.dir);
  let path: string;
  if (o.given !== undefined) {
    path = resolve(cwd, o.given);
    if (!existsSync(path)) throw new CliError(`${o.given}: no such pipeline file`, EXIT.invalid);
  } else {
    const folder = dir ?? cwd;
    const found = DEFAULT_PIPELINES.map((f) => join(folder, f)).find((f) => existsSync(f));
    if (!found)
      throw new CliError(
        `no pipeline given and none of ${DEFAULT_PIPELINES.join(', ')} in ${folder}`,
        EXIT.invalid,
      );
    path = found;
  }
  const root =
    dir !== undefined && isInside(dir, path) ? dir : ((await gitWorkTree(dirname(path))) ?? dirname(path));
  const name = relative(root, path).split(sep).join('/');
  const given = o.given;
  const shown = (file: string) => {
    if (given === undefined || dir !== undefined) return file;
    if (file === name) return given;
    const full = join(root, file);
    return isAbsolute(given) ? full : relative(cwd, full);
  };
  const text = await readPipelineText(path, shown(name));
  return { path, root, name, text, readTemplate: templateReader(root), shown };
}

/**
 * Reads template files below `root` only: a pipeline cannot pull in files from elsewhere, not
 * through `..` and not through a symbolic link. A refusal says why without quoting the file.
 */
export function templateReader(root: string): ReadFile {
  let realRoot: string | undefined;
  return (path) => {
    const full = resolve(root, path);
    if (!isInside(root, full)) throw new Error(`'${path}' is outside the repository (${root})`);
    let real: string;
    try {
      realRoot ??= realpathSync(root);
      real = realpathSync(full);
    } catch {
      return undefined;
    }
    if (!isInside(realRoot, real)) throw new Error('it is a symbolic link to a file outside the repository');
    const stats = statSync(real);
    if (!stats.isFile()) throw new Error('it is not a regular file');
    if (stats.size > MAX_PIPELINE_BYTES)
      throw new Error(`it is larger than ${MAX_PIPELINE_BYTES / 1024 / 1024} MiB`);
    return readFileSync(real, 'utf8');
  };
}

function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : `${root}${sep}`);
}

/** The top folder of the git work tree holding `dir`, if git knows one. */
async function gitWorkTree(dir: string): Promise<string | undefined> {
  return (await git(dir, ['rev-parse', '--show-toplevel']))?.[0];
}

/**
 * What the predefined `Build.*` variables say of a run from this folder: its git branch,
 * commit and repository name when it is a git work tree; just the folder's name otherwise.
 */
export async function runSourceOf(dir: string): Promise<RunSource> {
  const top = await gitWorkTree(dir);
  if (top === undefined) return { repository: basename(resolve(dir)) };
  const source: RunSource = { repository: basename(top) };
  // Both asked at once: each git process costs some milliseconds of start-up.
  const [[commit, ref] = [], [head] = []] = await Promise.all([
    git(dir, ['rev-parse', 'HEAD', '--symbolic-full-name', 'HEAD']),
    git(dir, ['symbolic-ref', '--quiet', 'refs/remotes/origin/HEAD']),
  ]);
  if (commit && /^[0-9a-f]{40,64}$/.test(commit)) source.commit = commit;
  if (ref?.startsWith('refs/')) source.branch = ref;
  // The remote's HEAD names the default branch (`refs/remotes/origin/main` → `refs/heads/main`),
  // whose caches every branch reads; without a remote there is none.
  if (head?.startsWith('refs/remotes/origin/'))
    source.defaultBranch = `refs/heads/${head.slice('refs/remotes/origin/'.length)}`;
  return source;
}

async function git(cwd: string, args: string[]): Promise<string[] | undefined> {
  try {
    const { stdout } = await execFileAsync('git', args, { cwd, timeout: 10_000 });
    return stdout.split('\n').filter((l) => l !== '');
  } catch {
    return undefined;
  }
}

/**
 * A pipeline file's text. Bytes that are not UTF-8 are an error at their line and column,
 * not silently replaced characters that would later fail somewhere else.
 */
export async function readPipelineText(file: string, shown = file): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(
      `${shown}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
      EXIT.invalid,
    );
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    // The lossy decoding marks the first bad byte with U+FFFD: its line and column (in characters).
    const lossy = new TextDecoder('utf-8').decode(bytes);
    const at = lossy.indexOf('\uFFFD');
    const before = lossy.slice(0, at);
    const line = before.split('\n').length;
    const col = at - (before.lastIndexOf('\n') + 1) + 1;
    throw new CliError(`${shown}:${line}:${col}: the file is not valid UTF-8 text`, EXIT.invalid);
  }
}
