import type { RunSource } from '../pipeline/index.js';

/** Which cache entries a run reads, in the order it prefers them, and where it writes. */
export interface CacheScopes {
  /** The one scope the run's saves go to. */
  write: string;
  /** Scopes whose entries the run restores, its own first. */
  read: string[];
}

/**
 * The rule that keeps anybody from poisoning anybody's cache:
 * - a trusted run on branch B writes `branch:B` and reads `branch:B`, then `branch:<default>`;
 * - an untrusted run (a fork's pull request; `slipway run --untrusted`) on B writes
 *   `untrusted:B`, which only untrusted runs of B read; it reads that, then what a trusted run
 *   of B or of the default branch could read. No trusted run ever reads an `untrusted:` scope;
 * - a run without a branch (a folder outside git, or a detached HEAD) writes and reads
 *   `folder:<repository>` (`untrusted-folder:` when untrusted): its own, read by no branch.
 */
export function cacheScopes(run: { source: RunSource; untrusted: boolean }): CacheScopes {
  const { branch, defaultBranch, repository } = run.source;
  if (!branch) {
    const own = `folder:${repository ?? ''}`;
    return run.untrusted
      ? { write: `untrusted-${own}`, read: [`untrusted-${own}`, own] }
      : { write: own, read: [own] };
  }
  const trusted = [`branch:${branch}`];
  if (defaultBranch && defaultBranch !== branch) trusted.push(`branch:${defaultBranch}`);
  if (!run.untrusted) return { write: trusted[0]!, read: trusted };
  const own = `untrusted:${branch}`;
  return { write: own, read: [own, ...trusted] };
}
