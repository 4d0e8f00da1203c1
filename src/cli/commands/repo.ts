import { readFile } from 'node:fs/promises';
import { addRepositoryRequest, type RepositoryView } from '../../protocol/index.js';
import { type ClientSettings, resolveClient } from '../client-config.js';
import { CliError, EXIT } from '../exit-codes.js';
import { dim } from '../render.js';
import { follow, StopSignals } from './run.js';

type Out = (s: string) => void;

export interface RepoAddFlags {
  url: string;
  pipeline?: string;
  defaultBranch?: string;
  poll?: number;
  credentialFile?: string;
  statusTokenFile?: string;
  forge?: 'github' | 'gitlab' | 'gitea';
  forgeApi?: string;
  forgeProject?: string;
  secret?: Record<string, string>;
}

async function readSecretFile(flag: string, file: string | undefined): Promise<string | undefined> {
  if (file === undefined) return undefined;
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (e) {
    throw new CliError(
      `${flag} ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
      EXIT.invalid,
    );
  }
}

/** `slipway repo add`: prints the webhook URLs and the webhook secret, this once. */
export async function repoAdd(s: ClientSettings, name: string, o: RepoAddFlags, out: Out): Promise<number> {
  if (o.poll !== undefined && (!Number.isInteger(o.poll) || o.poll < 1)) {
    throw new CliError('--poll: expected a whole number of seconds', EXIT.invalid);
  }
  const body = addRepositoryRequest.safeParse({
    name,
    url: o.url,
    pipelineFile: o.pipeline,
    defaultBranch: o.defaultBranch,
    pollSeconds: o.poll,
    credential: await readSecretFile('--credential-file', o.credentialFile),
    statusToken: await readSecretFile('--status-token-file', o.statusTokenFile),
    forge: o.forge,
    forgeApiUrl: o.forgeApi,
    forgeProject: o.forgeProject,
    secrets: o.secret ?? {},
  });
  if (!body.success) {
    const issue = body.error.issues[0];
    throw new CliError(
      `${flagOf(String(issue?.path[0] ?? ''))}: ${issue?.message ?? 'invalid'}`,
      EXIT.invalid,
    );
  }
  const { client, token, url } = resolveClient(s);
  const added = await client.addRepository(body.data, { token });
  const r = added.repository;
  out(
    `Repository ${r.name} added: ${r.url} (pipeline ${r.pipelineFile}, default branch ${r.defaultBranch})\n`,
  );
  out(
    `${r.pollSeconds ? `Polled every ${r.pollSeconds} s.` : 'Not polled: builds start from webhooks (or `slipway run --repo`).'}\n\n`,
  );
  out('Webhook URLs (content type application/json; events: push, tag push, pull/merge requests):\n');
  out(`  GitHub:        ${url}${added.hooks.github}\n`);
  out(`  GitLab:        ${url}${added.hooks.gitlab}\n`);
  out(`  Gitea/Forgejo: ${url}${added.hooks.gitea}\n`);
  out(`Webhook secret (shown this once): ${added.webhookSecret}\n`);
  return EXIT.ok;
}

const FLAGS: Record<string, string> = {
  url: '--url',
  pipelineFile: '--pipeline',
  defaultBranch: '--default-branch',
  pollSeconds: '--poll',
  credential: '--credential-file',
  statusToken: '--status-token-file',
  forge: '--forge',
  forgeApiUrl: '--forge-api',
  forgeProject: '--forge-project',
  secrets: '--secret',
  name: 'NAME',
};
const flagOf = (field: string) => FLAGS[field] ?? field;

export async function repoList(s: ClientSettings, o: { json?: boolean }, out: Out): Promise<number> {
  const { client, token } = resolveClient(s);
  const repos = await client.listRepositories({ token });
  if (o.json) {
    out(`${JSON.stringify(repos, null, 2)}\n`);
    return EXIT.ok;
  }
  if (repos.length === 0) {
    out('No repositories. Add one with `slipway repo add NAME --url URL`.\n');
    return EXIT.ok;
  }
  for (const r of repos) out(`${describe(r)}\n`);
  return EXIT.ok;
}

function describe(r: RepositoryView): string {
  const poll = r.pollSeconds ? `poll ${r.pollSeconds}s` : 'webhooks';
  const extras = [poll, `credential ${r.credential}`, r.statuses ? `statuses to ${r.statuses}` : undefined]
    .filter(Boolean)
    .join(', ');
  return `${r.name}  ${r.url}  ${r.pipelineFile}@${r.defaultBranch}  ${dim(extras)}`;
}

export async function repoRemove(s: ClientSettings, name: string, out: Out): Promise<number> {
  const { client, token } = resolveClient(s);
  await client.removeRepository(name, { token });
  out(`Repository ${name} removed (its runs are kept)\n`);
  return EXIT.ok;
}

/** `slipway repo errors NAME`: what could not be built, newest first, with the commit. */
export async function repoErrors(
  s: ClientSettings,
  name: string,
  o: { json?: boolean },
  out: Out,
): Promise<number> {
  const { client, token } = resolveClient(s);
  const errors = await client.repositoryErrors(name, { token });
  if (o.json) out(`${JSON.stringify(errors, null, 2)}\n`);
  else if (errors.length === 0) out(`No errors recorded for ${name}\n`);
  else for (const e of errors) out(`${e.at}  ${e.ref ?? ''} ${e.commit?.slice(0, 12) ?? ''}  ${e.message}\n`);
  return EXIT.ok;
}

/** `slipway run --repo NAME`: the server fetches and queues the commit; followed like `slipway run`. */
export async function runRepoCommand(
  s: ClientSettings,
  o: { repo: string; branch?: string; commit?: string; vars: Record<string, string>; out: Out },
): Promise<number> {
  if (o.branch && o.commit) throw new CliError('--branch and --commit: give one of them', EXIT.invalid);
  if (o.commit && !/^[0-9a-f]{7,64}$/.test(o.commit))
    throw new CliError('--commit: expected a commit id in hex', EXIT.invalid);
  const { client, token, url } = resolveClient(s);
  const stop = new StopSignals();
  try {
    const created = await client.runRepository(
      o.repo,
      { branch: o.branch, commit: o.commit, variables: o.vars },
      { token },
    );
    const ref = created.source.branch ?? '';
    o.out(
      `${dim(`Run #${created.number} of ${o.repo} ${ref} @ ${created.source.commit?.slice(0, 12) ?? ''} queued on ${url}`)}\n`,
    );
    return await follow(client, token, created, created.jobs.length > 1, o.out, stop);
  } finally {
    stop.dispose();
  }
}
