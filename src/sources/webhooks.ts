/**
 * Webhook deliveries of GitHub, GitLab and Gitea/Forgejo: verified against the repository's
 * secret in constant time, then read into one event shape. Pure: headers and raw body in.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { assertNever } from '../shared/errors.js';

export const FORGES = ['github', 'gitlab', 'gitea'] as const;
export type Forge = (typeof FORGES)[number];

export type Headers = Record<string, string | string[] | undefined>;

/** What a delivery asks for, the same for every forge. */
export type HookEvent =
  | {
      kind: 'push';
      /** `refs/heads/…` or `refs/tags/…`. */
      ref: string;
      /** The tip before the push; null for a new ref. */
      before: string | null;
      /** The tip after it; null when the ref was deleted. */
      after: string | null;
    }
  | {
      kind: 'pr';
      action: 'opened' | 'synchronize' | 'reopened';
      number: number;
      title: string;
      /** The ref the forge keeps the pull request's head under in the base repository. */
      fetchRef: string;
      headSha: string;
      /** The source branch, `refs/heads/…`. */
      sourceRef: string;
      /** The target branch, `refs/heads/…`. */
      targetRef: string;
      draft: boolean;
      /** From another repository (a fork): untrusted. */
      fork: boolean;
      sourceRepositoryUrl: string | null;
    }
  | { kind: 'ignored'; why: string };

const ZERO = /^0+$/;
const sha = (s: string | null | undefined) => (s && !ZERO.test(s) ? s : null);

function header(headers: Headers, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** Constant-time comparison of two strings of any lengths (both hashed first). */
function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

function hmacHex(secret: string, body: Buffer): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/**
 * Whether the delivery carries the repository's secret: GitHub's `X-Hub-Signature-256`
 * (`sha256=` HMAC of the body), GitLab's `X-Gitlab-Token` (the secret itself), Gitea's
 * `X-Gitea-Signature` (or Forgejo's `X-Forgejo-Signature`; the HMAC in hex). Missing is false.
 */
export function verifyDelivery(forge: Forge, headers: Headers, body: Buffer, secret: string): boolean {
  switch (forge) {
    case 'github': {
      const given = header(headers, 'x-hub-signature-256');
      if (!given?.startsWith('sha256=')) return false;
      return sameSecret(given.slice(7).toLowerCase(), hmacHex(secret, body));
    }
    case 'gitlab': {
      const given = header(headers, 'x-gitlab-token');
      return given !== undefined && sameSecret(given, secret);
    }
    case 'gitea': {
      const given = header(headers, 'x-gitea-signature') ?? header(headers, 'x-forgejo-signature');
      return given !== undefined && sameSecret(given.toLowerCase(), hmacHex(secret, body));
    }
    default:
      return assertNever(forge);
  }
}

/** The forge's id of this delivery (a redelivery keeps it); the body's hash when there is none. */
export function deliveryId(forge: Forge, headers: Headers, body: Buffer): string {
  const given =
    forge === 'github'
      ? header(headers, 'x-github-delivery')
      : forge === 'gitlab'
        ? (header(headers, 'idempotency-key') ?? header(headers, 'x-gitlab-event-uuid'))
        : (header(headers, 'x-gitea-delivery') ?? header(headers, 'x-forgejo-delivery'));
  return given?.slice(0, 200) || `sha256:${createHash('sha256').update(body).digest('hex')}`;
}

/** A body that is not the forge's JSON. */
export class HookPayloadError extends Error {}

const gitRef = z.string().min(1).max(1000);
const commitSha = z.string().regex(/^[0-9a-f]{40,64}$/);
const pushBody = z.object({ ref: gitRef, before: z.string().nullish(), after: z.string().nullish() });

const githubPr = z.object({
  action: z.string(),
  number: z.number().int(),
  pull_request: z.object({
    title: z.string().default(''),
    draft: z.boolean().default(false),
    head: z.object({
      ref: z.string(),
      sha: commitSha,
      repo: z.object({ full_name: z.string(), clone_url: z.string().nullish() }).nullish(),
    }),
    base: z.object({ ref: z.string(), repo: z.object({ full_name: z.string() }).nullish() }),
  }),
});

const gitlabMr = z.object({
  object_attributes: z.object({
    iid: z.number().int(),
    action: z.string().nullish(),
    title: z.string().default(''),
    source_branch: z.string(),
    target_branch: z.string(),
    source_project_id: z.number().nullish(),
    target_project_id: z.number(),
    draft: z.boolean().nullish(),
    work_in_progress: z.boolean().nullish(),
    oldrev: z.string().nullish(),
    last_commit: z.object({ id: commitSha }),
    source: z.object({ git_http_url: z.string().nullish() }).nullish(),
  }),
});

const giteaPr = z.object({
  action: z.string(),
  number: z.number().int(),
  pull_request: z.object({
    title: z.string().default(''),
    draft: z.boolean().nullish(),
    head: z.object({
      ref: z.string(),
      sha: commitSha,
      repo_id: z.number(),
      repo: z.object({ clone_url: z.string().nullish() }).nullish(),
    }),
    base: z.object({ ref: z.string(), repo_id: z.number() }),
  }),
});

const branchRef = (name: string) => (name.startsWith('refs/') ? name : `refs/heads/${name}`);

/** Reads a verified delivery. Events Slipway does not act on come back as `ignored`. */
export function parseDelivery(forge: Forge, headers: Headers, body: Buffer): HookEvent {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw new HookPayloadError('the delivery is not JSON (set the webhook content type to application/json)');
  }
  const read = <T>(schema: z.ZodType<T>, what: string): T => {
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new HookPayloadError(
        `${what}: ${issue?.path.join('.') || '(body)'}: ${issue?.message ?? 'invalid'}`,
      );
    }
    return parsed.data;
  };
  const push = (): HookEvent => {
    const p = read(pushBody, 'push event');
    return { kind: 'push', ref: p.ref, before: sha(p.before), after: sha(p.after) };
  };
  switch (forge) {
    case 'github': {
      const event = header(headers, 'x-github-event');
      if (event === 'push') return push();
      if (event !== 'pull_request') return { kind: 'ignored', why: `event '${event ?? '(none)'}'` };
      const p = read(githubPr, 'pull_request event');
      const action = prAction(p.action);
      if (!action) return { kind: 'ignored', why: `pull request ${p.action}` };
      const pr = p.pull_request;
      return {
        kind: 'pr',
        action,
        number: p.number,
        title: pr.title,
        fetchRef: `refs/pull/${p.number}/head`,
        headSha: pr.head.sha,
        sourceRef: branchRef(pr.head.ref),
        targetRef: branchRef(pr.base.ref),
        draft: pr.draft,
        // A deleted head repository counts as a fork: nobody can vouch for it any more.
        fork: !pr.head.repo || pr.head.repo.full_name !== pr.base.repo?.full_name,
        sourceRepositoryUrl: pr.head.repo?.clone_url ?? null,
      };
    }
    case 'gitlab': {
      const event = header(headers, 'x-gitlab-event');
      if (event === 'Push Hook' || event === 'Tag Push Hook') return push();
      if (event !== 'Merge Request Hook') return { kind: 'ignored', why: `event '${event ?? '(none)'}'` };
      const mr = read(gitlabMr, 'merge request event').object_attributes;
      // GitLab's `update` is also a title or label edit; only one with `oldrev` brought commits.
      const action =
        mr.action === 'open'
          ? 'opened'
          : mr.action === 'reopen'
            ? 'reopened'
            : mr.action === 'update' && mr.oldrev
              ? 'synchronize'
              : undefined;
      if (!action) return { kind: 'ignored', why: `merge request ${mr.action ?? '(no action)'}` };
      return {
        kind: 'pr',
        action,
        number: mr.iid,
        title: mr.title,
        fetchRef: `refs/merge-requests/${mr.iid}/head`,
        headSha: mr.last_commit.id,
        sourceRef: branchRef(mr.source_branch),
        targetRef: branchRef(mr.target_branch),
        draft: mr.draft ?? mr.work_in_progress ?? false,
        fork: mr.source_project_id !== mr.target_project_id,
        sourceRepositoryUrl: mr.source?.git_http_url ?? null,
      };
    }
    case 'gitea': {
      const event = header(headers, 'x-gitea-event') ?? header(headers, 'x-forgejo-event');
      if (event === 'push') return push();
      if (event !== 'pull_request') return { kind: 'ignored', why: `event '${event ?? '(none)'}'` };
      const p = read(giteaPr, 'pull_request event');
      const action = prAction(p.action === 'synchronized' ? 'synchronize' : p.action);
      if (!action) return { kind: 'ignored', why: `pull request ${p.action}` };
      const pr = p.pull_request;
      return {
        kind: 'pr',
        action,
        number: p.number,
        title: pr.title,
        fetchRef: `refs/pull/${p.number}/head`,
        headSha: pr.head.sha,
        sourceRef: branchRef(pr.head.ref),
        targetRef: branchRef(pr.base.ref),
        draft: pr.draft ?? /^(wip:|\[wip\])/i.test(pr.title),
        fork: pr.head.repo_id !== pr.base.repo_id,
        sourceRepositoryUrl: pr.head.repo?.clone_url ?? null,
      };
    }
    default:
      return assertNever(forge);
  }
}

function prAction(action: string): 'opened' | 'synchronize' | 'reopened' | undefined {
  return action === 'opened' || action === 'synchronize' || action === 'reopened' ? action : undefined;
}
