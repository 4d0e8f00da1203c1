import { statSync } from 'node:fs';
import { lchown, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ValidationError } from '../shared/errors.js';

/** The unprivileged OS user a host agent runs every step as (`--job-user`). */
export interface JobUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/**
 * Finds `name` (or a numeric uid) in the text of /etc/passwd and checks that it can isolate jobs:
 * the agent must be root to switch to it, and it must be neither root nor the agent's own user,
 * since a job's user can read that user's processes (the agent's memory, its tokens) and every
 * process of the job user is killed after each job. Pure: the caller passes the file and the uid.
 */
export function resolveJobUser(name: string, passwd: string, agentUid: number): JobUser {
  if (agentUid !== 0) {
    throw new ValidationError(
      `--job-user ${name}: the agent must run as root to start steps as another user (it runs as uid ${agentUid})`,
    );
  }
  const entry = passwd
    .split('\n')
    .map((line) => line.split(':'))
    .find((f) => f.length >= 7 && (f[0] === name || (/^\d+$/.test(name) && f[2] === name)));
  if (!entry) throw new ValidationError(`--job-user ${name}: no such user in /etc/passwd`);
  const user = { name: entry[0]!, uid: Number(entry[2]), gid: Number(entry[3]), home: entry[5] || '/' };
  if (user.uid === 0 || user.uid === agentUid) {
    throw new ValidationError(
      `--job-user ${name}: steps must run as an unprivileged user other than the agent's own (uid ${user.uid})`,
    );
  }
  return user;
}

/**
 * Why `user` cannot enter `dir` (an ancestor without search permission for it), or undefined.
 * Steps drop supplementary groups, so only the user's own uid and primary gid count.
 */
export function whyUnreachable(dir: string, user: JobUser): string | undefined {
  for (let d = dir; ; d = dirname(d)) {
    const s = statSync(d);
    const bit = s.uid === user.uid ? 0o100 : s.gid === user.gid ? 0o010 : 0o001;
    if ((s.mode & bit) === 0) {
      return `${d} (mode ${(s.mode & 0o777).toString(8)}, owner uid ${s.uid}) does not let ${user.name} in`;
    }
    if (dirname(d) === d) return undefined;
  }
}

/**
 * Why `user` could read `file` (a token file the agent registers with), or undefined: a job
 * running as that user would take the token and register agents of its own.
 */
export function whyReadable(file: string, user: JobUser): string | undefined {
  if (whyUnreachable(dirname(file), user)) return undefined;
  const s = statSync(file);
  const bit = s.uid === user.uid ? 0o400 : s.gid === user.gid ? 0o040 : 0o004;
  if ((s.mode & bit) === 0) return undefined;
  return `${file} (mode ${(s.mode & 0o777).toString(8)}) is readable by ${user.name}, so every job could take it`;
}

/** Hands a tree the agent wrote (workspace, artifacts) to the job user; links are not followed. */
export async function chownTree(path: string, user: JobUser): Promise<void> {
  await lchown(path, user.uid, user.gid);
  const entries = await readdir(path, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const child = join(path, e.name);
    if (e.isDirectory()) await chownTree(child, user);
    else await lchown(child, user.uid, user.gid);
  }
}
