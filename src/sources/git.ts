/**
 * Runs the `git` binary for the coordinator's mirrors. A credential reaches git through its
 * environment only (an askpass program reads it back; an SSH key sits in a 0600 file for the
 * call), never through the command line, which any local user can read in `ps`.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SlipwayError } from '../shared/errors.js';
import { newId } from '../shared/ids.js';

/** How the coordinator authenticates to a repository. */
export type GitCredential =
  | { kind: 'token'; username: string; token: string }
  | { kind: 'ssh-key'; key: string };

/** Git failed; the message has the credential masked out. */
export class GitError extends SlipwayError {
  constructor(
    message: string,
    readonly exitCode: number | null,
  ) {
    super(message);
  }
}

export interface GitRunnerOptions {
  /** A private folder (mode 0700) for the askpass program and short-lived key files. */
  stateDir: string;
  /** Longest one git call may take, in ms. Default 10 minutes. */
  timeoutMs?: number;
}

const ASKPASS = `#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "$SLIPWAY_GIT_USERNAME" ;;
  *) printf '%s\\n' "$SLIPWAY_GIT_PASSWORD" ;;
esac
`;

/** A base environment: nothing of the coordinator's own environment but PATH and HOME-free config. */
function baseEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    // No user or system config, no terminal prompts: a credential problem fails, it never hangs.
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: '',
    SSH_ASKPASS: '',
    LC_ALL: 'C',
  };
}

export class GitRunner {
  private readonly timeoutMs: number;
  private prepared?: Promise<void>;

  constructor(private readonly o: GitRunnerOptions) {
    this.timeoutMs = o.timeoutMs ?? 10 * 60_000;
  }

  private get askpass(): string {
    return join(this.o.stateDir, 'askpass.sh');
  }

  private prepare(): Promise<void> {
    this.prepared ??= (async () => {
      await mkdir(this.o.stateDir, { recursive: true, mode: 0o700 });
      await chmod(this.o.stateDir, 0o700);
      await writeFile(this.askpass, ASKPASS, { mode: 0o700 });
      await chmod(this.askpass, 0o700);
    })();
    return this.prepared;
  }

  /** Runs git; stdout comes back as a Buffer. Credentialed calls (fetches) pass `credential`. */
  async run(
    args: string[],
    o: { cwd?: string; credential?: GitCredential | null; maxBuffer?: number; env?: NodeJS.ProcessEnv } = {},
  ): Promise<Buffer> {
    await this.prepare();
    const env: NodeJS.ProcessEnv = { ...baseEnv(), ...o.env };
    let keyFile: string | undefined;
    const secrets: string[] = [];
    if (o.credential?.kind === 'token') {
      env.GIT_ASKPASS = this.askpass;
      env.SLIPWAY_GIT_USERNAME = o.credential.username;
      env.SLIPWAY_GIT_PASSWORD = o.credential.token;
      secrets.push(o.credential.token);
    } else if (o.credential?.kind === 'ssh-key') {
      keyFile = join(this.o.stateDir, `key-${newId('')}`);
      await writeFile(keyFile, o.credential.key.endsWith('\n') ? o.credential.key : `${o.credential.key}\n`, {
        mode: 0o600,
      });
      secrets.push(o.credential.key);
    }
    if (keyFile || o.credential === undefined || o.credential === null) {
      const known = join(this.o.stateDir, 'known_hosts');
      const identity = keyFile ? `-i '${keyFile}' -o IdentitiesOnly=yes ` : '';
      env.GIT_SSH_COMMAND = `ssh ${identity}-o BatchMode=yes -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile='${known}'`;
    }
    try {
      return await new Promise<Buffer>((resolve, reject) => {
        execFile(
          'git',
          ['-c', 'credential.helper=', '-c', 'core.askPass=', ...args],
          {
            cwd: o.cwd,
            env,
            encoding: 'buffer',
            maxBuffer: o.maxBuffer ?? 64 * 1024 * 1024,
            timeout: this.timeoutMs,
          },
          (error, stdout, stderr) => {
            if (!error) return resolve(stdout);
            const text = mask(stderr.toString('utf8').trim() || error.message, secrets);
            const code = typeof error.code === 'number' ? error.code : null;
            reject(new GitError(`git ${args[0]}: ${text.split('\n').slice(-3).join(' ')}`, code));
          },
        );
      });
    } finally {
      if (keyFile) await rm(keyFile, { force: true });
    }
  }

  /** A synchronous read of a local mirror (the pipeline compiler reads templates synchronously). */
  runSync(args: string[], cwd: string): Buffer | undefined {
    try {
      return execFileSync('git', args, {
        cwd,
        env: baseEnv(),
        stdio: ['ignore', 'pipe', 'ignore'],
        maxBuffer: 8 * 1024 * 1024,
      });
    } catch {
      return undefined;
    }
  }
}

function mask(text: string, secrets: string[]): string {
  let out = text;
  for (const s of secrets) if (s.length > 0) out = out.split(s).join('***');
  return out;
}

/** Whether a folder holds a git repository (a bare mirror). */
export function isRepository(dir: string): boolean {
  return existsSync(join(dir, 'HEAD')) && existsSync(join(dir, 'objects'));
}
