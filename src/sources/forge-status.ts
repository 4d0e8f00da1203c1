/**
 * Commit statuses back to the forge, through each forge's REST API: GitHub and Gitea
 * `POST /repos/{owner}/{repo}/statuses/{sha}`, GitLab `POST /projects/{id}/statuses/{sha}`.
 * `statusRequest` builds the request (pure, table-tested); `postStatus` only sends it.
 */
import { assertNever } from '../shared/errors.js';
import type { Forge } from './webhooks.js';

export interface StatusApi {
  forge: Forge;
  /** The API's root: `https://api.github.com`, `https://gitlab.example/api/v4`, `https://gitea.example/api/v1`. */
  apiUrl: string;
  /** `owner/repo` (GitHub, Gitea) or the project's path or id (GitLab). */
  project: string;
  token: string;
}

/** A run's state as a commit status. */
export type StatusState = 'pending' | 'running' | 'success' | 'failure' | 'canceled';

export interface CommitStatus {
  commit: string;
  state: StatusState;
  description: string;
  /** The check's name on the forge. */
  context: string;
  targetUrl?: string;
}

export interface StatusRequest {
  url: string;
  headers: Record<string, string>;
  body: Record<string, string>;
}

export function statusRequest(api: StatusApi, status: CommitStatus): StatusRequest {
  const root = api.apiUrl.replace(/\/+$/, '');
  const target: Record<string, string> = status.targetUrl ? { target_url: status.targetUrl } : {};
  switch (api.forge) {
    case 'github':
      return {
        url: `${root}/repos/${api.project}/statuses/${status.commit}`,
        headers: {
          authorization: `Bearer ${api.token}`,
          accept: 'application/vnd.github+json',
          'x-github-api-version': '2022-11-28',
          'user-agent': 'slipway',
        },
        body: {
          state: {
            pending: 'pending',
            running: 'pending',
            success: 'success',
            failure: 'failure',
            canceled: 'error',
          }[status.state],
          description: status.description.slice(0, 140),
          context: status.context,
          ...target,
        },
      };
    case 'gitlab':
      return {
        url: `${root}/projects/${encodeURIComponent(api.project)}/statuses/${status.commit}`,
        headers: { 'private-token': api.token },
        body: {
          state: {
            pending: 'pending',
            running: 'running',
            success: 'success',
            failure: 'failed',
            canceled: 'canceled',
          }[status.state],
          description: status.description.slice(0, 255),
          name: status.context,
          ...target,
        },
      };
    case 'gitea':
      return {
        url: `${root}/repos/${api.project}/statuses/${status.commit}`,
        headers: { authorization: `token ${api.token}` },
        body: {
          state: {
            pending: 'pending',
            running: 'pending',
            success: 'success',
            failure: 'failure',
            canceled: 'error',
          }[status.state],
          description: status.description.slice(0, 255),
          context: status.context,
          ...target,
        },
      };
    default:
      return assertNever(api.forge);
  }
}

/** Sends a status; throws with the forge's answer (never the token) when it is refused. */
export async function postStatus(api: StatusApi, status: CommitStatus, timeoutMs = 15_000): Promise<void> {
  const req = statusRequest(api, status);
  const res = await fetch(req.url, {
    method: 'POST',
    headers: { ...req.headers, 'content-type': 'application/json' },
    body: JSON.stringify(req.body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!res.ok) {
    const text = (await res.text().catch(() => '')).slice(0, 200).split(api.token).join('***');
    throw new Error(`${api.forge} refused the commit status: ${res.status} ${text}`);
  }
}

/** The status API a repository URL implies, when it is a well-known host; else undefined. */
export function statusApiFromUrl(url: string, forge?: Forge): Omit<StatusApi, 'token'> | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return undefined;
  const project = parsed.pathname
    .replace(/^\/+/, '')
    .replace(/\.git$/, '')
    .replace(/\/+$/, '');
  const kind =
    forge ??
    (parsed.hostname === 'github.com' ? 'github' : parsed.hostname === 'gitlab.com' ? 'gitlab' : undefined);
  if (!kind || project === '') return undefined;
  const origin = `${parsed.protocol}//${parsed.host}`;
  const apiUrl =
    kind === 'github'
      ? parsed.hostname === 'github.com'
        ? 'https://api.github.com'
        : `${origin}/api/v3`
      : kind === 'gitlab'
        ? `${origin}/api/v4`
        : `${origin}/api/v1`;
  return { forge: kind, apiUrl, project };
}
