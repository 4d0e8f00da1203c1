import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { extractWorkspace, listAllFiles, packWorkspace } from '../shared/workspace-archive.js';
import { findFiles } from '../tasks/index.js';
import { chownTree } from './job-user.js';
import type { StepContext } from './step-runner.js';

const ARTIFACT_NAME = /^[A-Za-z0-9._-]{1,100}$/;

/** Why `name` cannot be an artifact's name, or undefined when it can. */
export function artifactNameProblem(c: StepContext, name: string): string | undefined {
  // A name is stored and listed in clear, and `***` is no valid name: refuse, naming no value.
  if (c.state.containsSecret(name)) return 'the artifact name contains a secret; choose another name';
  if (!ARTIFACT_NAME.test(name)) return `artifact name '${name}' is not valid`;
  return undefined;
}

/**
 * Publishes `source` (absolute) as this run's artifact `name`: a file as itself, a folder as
 * its contents. The `publish` step and the artifact tasks share it.
 */
export async function publishArtifact(
  c: StepContext,
  name: string,
  source: string,
): Promise<{ bytes: number }> {
  const problem = artifactNameProblem(c, name);
  if (problem) throw new Error(problem);
  const info = await stat(source).catch(() => undefined);
  if (!info) throw new Error(`nothing to publish: ${source} does not exist`);
  const archive = info.isDirectory()
    ? await packWorkspace(source, { files: await listAllFiles(source) })
    : await packWorkspace(dirname(source), { files: [basename(source)] });
  await c.client.publishArtifact(c.spec.jobId, name, archive, {
    token: c.spec.leaseToken,
    timeoutMs: 600_000,
  });
  return { bytes: archive.length };
}

/** The names of this run's artifacts published so far. */
export async function listArtifacts(c: StepContext): Promise<string[]> {
  return (await c.client.jobArtifacts(c.spec.jobId, { token: c.spec.leaseToken })).map((a) => a.name);
}

/** Every file, as Azure's default pattern says. */
export const ALL_FILES = ['**'];

/**
 * Unpacks artifact `name` into `target`, keeping the files that match `patterns` (relative to
 * the artifact's root; `!` excludes). The `download` step and the download tasks share it.
 */
export async function downloadArtifact(
  c: StepContext,
  name: string,
  target: string,
  patterns: readonly string[] = ALL_FILES,
): Promise<{ files: number }> {
  const res = await c.client.fetch(`jobs/${c.spec.jobId}/artifacts/${encodeURIComponent(name)}`, {
    token: c.spec.leaseToken,
    timeoutMs: 600_000,
  });
  if (!res.ok) throw new Error(`download of artifact '${name}' failed: ${res.status}`);
  const archive = Buffer.from(await res.arrayBuffer());
  await mkdir(target, { recursive: true });
  let files: number;
  if (patterns.length === 1 && patterns[0] === '**') files = (await extractWorkspace(archive, target)).files;
  else {
    const staging = join(c.dirs.tmp, `artifact-${Math.random().toString(36).slice(2)}`);
    try {
      await extractWorkspace(archive, staging);
      const wanted = await findFiles(staging, patterns);
      for (const file of wanted) {
        const to = join(target, file.slice(staging.length + 1));
        await mkdir(dirname(to), { recursive: true });
        await rename(file, to);
      }
      files = wanted.length;
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
  if (c.jobUser) await chownTree(target, c.jobUser);
  return { files };
}

/** Multi-line or `;`-free pattern text as a list; empty means every file. */
export function patternList(text: string | undefined): string[] {
  const list = (text ?? '')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  return list.length === 0 ? ALL_FILES : list;
}
