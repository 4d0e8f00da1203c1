/**
 * A bare mirror of one repository under the coordinator's data directory. Everything a run of
 * the repository needs is read from here; only `fetch` talks to the forge (with the credential).
 */
import { mkdir } from 'node:fs/promises';
import { posix } from 'node:path';
import { extractWorkspace } from '../shared/workspace-archive.js';
import { type GitCredential, GitError, type GitRunner, isRepository } from './git.js';

/** What the mirror fetches: branches, tags, and the forges' pull-request heads. */
const REFSPECS = [
  '+refs/heads/*:refs/heads/*',
  '+refs/tags/*:refs/tags/*',
  '+refs/pull/*/head:refs/pull/*/head',
  '+refs/merge-requests/*/head:refs/merge-requests/*/head',
];

/** A pipeline or template file larger than this is not read from a commit. */
const MAX_FILE_BYTES = 1024 * 1024;
/** A commit's tree larger than this (as a tar) is refused as a workspace. */
const MAX_TREE_BYTES = 512 * 1024 * 1024;

export interface MirrorOptions {
  /** The bare repository's folder. */
  dir: string;
  url: string;
  credential: GitCredential | null;
  git: GitRunner;
}

export class Mirror {
  constructor(private readonly o: MirrorOptions) {}

  get dir(): string {
    return this.o.dir;
  }

  private git(args: string[], maxBuffer?: number): Promise<Buffer> {
    return this.o.git.run(args, { cwd: this.o.dir, ...(maxBuffer ? { maxBuffer } : {}) });
  }

  private async text(args: string[]): Promise<string> {
    return (await this.git(args)).toString('utf8');
  }

  /** Makes the bare repository when it is not there yet (no network). */
  async ensure(): Promise<void> {
    if (isRepository(this.o.dir)) return;
    await mkdir(this.o.dir, { recursive: true, mode: 0o700 });
    await this.o.git.run(['init', '--bare', '--quiet', this.o.dir]);
    await this.git(['config', 'remote.origin.url', this.o.url]);
    for (const spec of REFSPECS) await this.git(['config', '--add', 'remote.origin.fetch', spec]);
    // Runs that want history fetch their commit by id from here, also one no ref points at any more.
    await this.git(['config', 'uploadpack.allowAnySHA1InWant', 'true']);
    await this.git(['config', 'gc.auto', '0']);
  }

  /** Brings the mirror up to date with the forge; refs gone there go here too. */
  async fetch(): Promise<void> {
    await this.ensure();
    await this.o.git.run(['fetch', '--prune', '--quiet', '--no-write-fetch-head', 'origin'], {
      cwd: this.o.dir,
      credential: this.o.credential,
    });
  }

  /** Branch and tag tips, full ref → commit (annotated tags peeled to their commit). */
  async refs(): Promise<Map<string, string>> {
    const out = await this.text([
      'for-each-ref',
      '--format=%(objectname) %(*objectname) %(refname)',
      'refs/heads',
      'refs/tags',
    ]);
    const refs = new Map<string, string>();
    for (const line of out.split('\n')) {
      const [object, peeled, ref] = line.split(' ');
      if (!object || ref === undefined) continue;
      refs.set(ref, peeled || object);
    }
    return refs;
  }

  /** The commit a ref, branch name or commit id names; undefined when there is none. */
  async resolve(rev: string): Promise<string | undefined> {
    try {
      return (
        await this.text(['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`])
      ).trim();
    } catch (error) {
      if (error instanceof GitError) return undefined;
      throw error;
    }
  }

  /** A file's text at a commit; undefined when the commit has no such file. */
  async readFile(commit: string, path: string): Promise<string | undefined> {
    const clean = cleanPath(path);
    if (clean === undefined) return undefined;
    try {
      const size = Number((await this.text(['cat-file', '-s', `${commit}:${clean}`])).trim());
      if (size > MAX_FILE_BYTES) throw new Error(`${clean} is larger than 1 MiB`);
      return (await this.git(['cat-file', 'blob', `${commit}:${clean}`])).toString('utf8');
    } catch (error) {
      if (error instanceof GitError) return undefined;
      throw error;
    }
  }

  /** The same, synchronously: the pipeline compiler asks for templates as it reads. */
  readFileSync(commit: string, path: string): string | undefined {
    const clean = cleanPath(path);
    if (clean === undefined) return undefined;
    const bytes = this.o.git.runSync(['cat-file', 'blob', `${commit}:${clean}`], this.o.dir);
    if (bytes && bytes.length > MAX_FILE_BYTES) throw new Error('it is larger than 1 MiB');
    return bytes?.toString('utf8');
  }

  /** The commit's message. */
  async message(commit: string): Promise<string> {
    return (await this.text(['log', '-1', '--format=%B', commit])).trim();
  }

  /** Paths changed between two commits; undefined when `from` is unknown here. */
  async changedPaths(from: string | null, to: string): Promise<string[] | undefined> {
    if (!from || !(await this.resolve(from))) return undefined;
    const out = await this.git(['diff', '--name-only', '-z', '--no-renames', from, to]);
    return out
      .toString('utf8')
      .split('\0')
      .filter((p) => p !== '');
  }

  /** Whether `a` is `b` or an ancestor of it. */
  async isAncestor(a: string, b: string): Promise<boolean> {
    try {
      await this.git(['merge-base', '--is-ancestor', a, b]);
      return true;
    } catch (error) {
      if (error instanceof GitError) return false;
      throw error;
    }
  }

  async mergeBase(a: string, b: string): Promise<string | undefined> {
    try {
      return (await this.text(['merge-base', a, b])).trim() || undefined;
    } catch (error) {
      if (error instanceof GitError) return undefined;
      throw error;
    }
  }

  /**
   * Writes the commit's tree into `dest` through the same guarded extractor agents use: a tree
   * with a symlink leading outside it, or larger than 512 MiB, is refused.
   */
  async exportTree(commit: string, dest: string): Promise<void> {
    const tar = await this.git(['archive', '--format=tar', commit], MAX_TREE_BYTES);
    await extractWorkspace(tar, dest);
  }

  /**
   * Gives `dest` (holding the commit's tree) a `.git` at that commit: `depth` commits of
   * history (0: all), the branch checked out when there is one, and `origin` pointing at the
   * repository's URL (without any credential, which never leaves the coordinator).
   */
  async addHistory(
    commit: string,
    dest: string,
    o: { depth: number; branch?: string; publicUrl: string },
  ): Promise<void> {
    const git = (args: string[]) => this.o.git.run(args, { cwd: dest });
    await git(['init', '--quiet']);
    const short = o.branch?.startsWith('refs/heads/') ? o.branch.slice('refs/heads/'.length) : undefined;
    const target = short ? `refs/remotes/origin/${short}` : 'refs/slipway/checkout';
    const depth = o.depth > 0 ? [`--depth=${o.depth}`] : [];
    await git(['fetch', '--quiet', '--no-tags', ...depth, `file://${this.o.dir}`, `+${commit}:${target}`]);
    if (short) {
      await git(['update-ref', `refs/heads/${short}`, commit]);
      await git(['symbolic-ref', 'HEAD', `refs/heads/${short}`]);
    } else {
      await git(['update-ref', '--no-deref', 'HEAD', commit]);
    }
    await git(['remote', 'add', 'origin', o.publicUrl]);
    // The index from HEAD; the files are already the commit's, so the checkout reads as clean.
    await git(['reset', '--quiet']);
  }
}

/** A repository-relative path, or undefined when it tries to leave the repository. */
function cleanPath(path: string): string | undefined {
  const p = posix.normalize(path.replace(/^\/+/, ''));
  if (p === '.' || p.startsWith('../') || p === '..') return undefined;
  return p;
}
