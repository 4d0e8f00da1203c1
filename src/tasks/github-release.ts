import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { z } from 'zod';
import { assertNever } from '../shared/errors.js';
import { stagingDir } from './artifact-paths.js';
import { findInputFiles, patternList } from './command-line.js';
import { choice, flag, required, text } from './inputs.js';
import { serviceConnection } from './service-connection.js';
import type { TaskContext, TaskDefinition } from './types.js';

const inputs = z.object({
  gitHubConnection: required(),
  /** Default: $(Build.Repository.Name). */
  repositoryName: text().refine((v) => v === '' || /^[\w.-]+\/[\w.-]+$/.test(v.trim()), {
    message: 'must be owner/name',
  }),
  action: choice(['create', 'edit', 'delete'], 'create'),
  target: text('$(Build.SourceVersion)'),
  tagSource: choice(['gitTag', 'userSpecifiedTag', 'auto', 'manual'], 'gitTag'),
  tagPattern: text(),
  tag: text(),
  title: text(),
  releaseNotesSource: choice(['filePath', 'inline', 'file', 'input'], 'filePath'),
  releaseNotesFilePath: text(),
  releaseNotesInline: text(),
  /** Default: $(Build.ArtifactStagingDirectory)/*. */
  assets: text(),
  assetUploadMode: choice(['delete', 'replace'], 'delete'),
  isDraft: flag(false),
  isPreRelease: flag(false),
  addChangeLog: flag(true),
  changeLogCompareToRelease: choice(
    ['lastFullRelease', 'lastNonDraftRelease', 'lastNonDraftReleaseByTag'],
    'lastFullRelease',
  ),
  changeLogCompareToReleaseTag: text(),
  changeLogType: choice(['commitBased', 'issueBased'], 'commitBased'),
  changeLogLabels: text(),
});

type Inputs = z.infer<typeof inputs>;

/** One call to the GitHub REST API with the mapped token; a failure names the call and GitHub's message. */
async function github(
  ctx: TaskContext,
  api: { base: string; token: string },
  method: string,
  path: string,
  body?: unknown,
  raw?: { data: Buffer; url: string },
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(raw?.url ?? `${api.base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${api.token}`,
      accept: 'application/vnd.github+json',
      'user-agent': 'slipway',
      ...(raw
        ? { 'content-type': 'application/octet-stream' }
        : body
          ? { 'content-type': 'application/json' }
          : {}),
    },
    ...(raw ? { body: raw.data } : body ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(120_000)]),
  });
  const text = await res.text();
  const json = (text ? (JSON.parse(text) as Record<string, unknown>) : {}) ?? {};
  if (!res.ok && res.status !== 404)
    throw new Error(
      `GitHub answered ${method} ${path} with ${res.status}: ${String(json.message ?? text).slice(0, 300)}`,
    );
  return { status: res.status, json };
}

async function releaseNotes(ctx: TaskContext, o: Inputs): Promise<string> {
  if (o.releaseNotesSource === 'inline' || o.releaseNotesSource === 'input') return o.releaseNotesInline;
  if (o.releaseNotesFilePath === '') return '';
  const file = resolve(ctx.sourcesDir, o.releaseNotesFilePath);
  await ctx.confine(file);
  return readFile(file, 'utf8');
}

/** The tag of a create: the tag this run builds (gitTag), or the one given. */
function createTag(ctx: TaskContext, o: Inputs): string | undefined {
  if (o.tagSource === 'userSpecifiedTag' || o.tagSource === 'manual') return o.tag;
  const branch = ctx.variable('Build.SourceBranch') ?? '';
  const tag = branch.startsWith('refs/tags/') ? branch.slice('refs/tags/'.length) : undefined;
  if (tag === undefined || (o.tagPattern && !new RegExp(`^(?:${o.tagPattern})$`).test(tag))) return undefined;
  return tag;
}

async function uploadAssets(
  ctx: TaskContext,
  api: { base: string; token: string },
  release: Record<string, unknown>,
  o: Inputs,
): Promise<number> {
  const patterns = patternList(o.assets || join(stagingDir(ctx), '*'));
  const files = await findInputFiles(ctx, patterns);
  const existing = Array.isArray(release.assets)
    ? (release.assets as Array<{ id: number; name: string }>)
    : [];
  const names = new Set(files.map((f) => basename(f)));
  for (const asset of existing)
    if (o.assetUploadMode === 'delete' || names.has(asset.name))
      await github(ctx, api, 'DELETE', `/repos/${o.repositoryName}/releases/assets/${asset.id}`);
  const uploadUrl = String(release.upload_url ?? '').replace(/\{[^}]*\}$/, '');
  for (const file of files) {
    await ctx.confine(file);
    const url = `${uploadUrl}?name=${encodeURIComponent(basename(file))}`;
    await github(ctx, api, 'POST', url, undefined, { data: await readFile(file), url });
    ctx.log(`Uploaded ${basename(file)}`);
  }
  return files.length;
}

/**
 * GitHubRelease@0: creates, edits or deletes a release through the GitHub API with the token the
 * connection is mapped to (`<gitHubConnection>.token`, a secret; `<gitHubConnection>.url` for
 * GitHub Enterprise's API). Without it the step is refused, naming the mapping.
 */
export const gitHubRelease: TaskDefinition<typeof inputs> = {
  name: 'GitHubRelease',
  version: 0,
  summary: 'creates, edits or deletes a GitHub release with a token mapped by a secret variable',
  inputs,
  async run(ctx, o) {
    const repository = o.repositoryName || ctx.variable('Build.Repository.Name') || '';
    if (!/^[\w.-]+\/[\w.-]+$/.test(repository))
      return { result: 'failed', reason: `repositoryName '${repository}' is not owner/name` };
    const manualTag = o.tagSource === 'userSpecifiedTag' || o.tagSource === 'manual';
    if ((o.action !== 'create' || manualTag) && o.tag === '')
      return {
        result: 'failed',
        reason: `input 'tag' is required for action '${o.action}'${manualTag ? ` with tagSource '${o.tagSource}'` : ''}`,
      };
    const found = serviceConnection(ctx, 'gitHubConnection', o.gitHubConnection, [
      { name: 'token', secret: true, what: `a GitHub token with contents: write on ${repository}` },
    ]);
    if ('failure' in found) return { result: 'failed', reason: `GitHubRelease@0 refused: ${found.failure}` };
    const api = {
      base: (ctx.variable(`${o.gitHubConnection}.url`) || 'https://api.github.com').replace(/\/+$/, ''),
      token: found.values.token!,
    };
    const r = { ...o, repositoryName: repository };
    const byTag = async (tag: string) => {
      const res = await github(
        ctx,
        api,
        'GET',
        `/repos/${repository}/releases/tags/${encodeURIComponent(tag)}`,
      );
      return res.status === 404 ? undefined : res.json;
    };
    switch (o.action) {
      case 'create': {
        const tag = createTag(ctx, o);
        if (tag === undefined) {
          ctx.warn(
            `no release created: this run does not build a tag${o.tagPattern ? ` matching ${o.tagPattern}` : ''} (tagSource: gitTag); use tagSource: userSpecifiedTag with tag to name one`,
          );
          return { result: 'succeeded' };
        }
        const target =
          o.target === '$(Build.SourceVersion)' ? ctx.variable('Build.SourceVersion') || '' : o.target;
        const created = await github(ctx, api, 'POST', `/repos/${repository}/releases`, {
          tag_name: tag,
          ...(target ? { target_commitish: target } : {}),
          name: o.title || tag,
          body: await releaseNotes(ctx, o),
          draft: o.isDraft,
          prerelease: o.isPreRelease,
        });
        const assets = await uploadAssets(ctx, api, created.json, r);
        ctx.log(
          `Created release ${tag} of ${repository} with ${assets} assets: ${String(created.json.html_url ?? '')}`,
        );
        return { result: 'succeeded' };
      }
      case 'edit': {
        const release = await byTag(o.tag);
        if (release === undefined)
          return { result: 'failed', reason: `${repository} has no release for tag ${o.tag}` };
        const edited = await github(
          ctx,
          api,
          'PATCH',
          `/repos/${repository}/releases/${String(release.id)}`,
          {
            ...(o.title ? { name: o.title } : {}),
            body: await releaseNotes(ctx, o),
            draft: o.isDraft,
            prerelease: o.isPreRelease,
          },
        );
        const assets = await uploadAssets(ctx, api, { ...edited.json, assets: release.assets }, r);
        ctx.log(`Edited release ${o.tag} of ${repository} (${assets} assets uploaded)`);
        return { result: 'succeeded' };
      }
      case 'delete': {
        const release = await byTag(o.tag);
        if (release === undefined) {
          ctx.warn(`${repository} has no release for tag ${o.tag}; nothing to delete`);
          return { result: 'succeeded' };
        }
        await github(ctx, api, 'DELETE', `/repos/${repository}/releases/${String(release.id)}`);
        ctx.log(`Deleted release ${o.tag} of ${repository}`);
        return { result: 'succeeded' };
      }
      default:
        return assertNever(o.action);
    }
  },
};
