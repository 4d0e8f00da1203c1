import type { z } from 'zod';
import type { containerOptions } from './plan-schema.js';

export type ContainerOptions = z.infer<typeof containerOptions>;

/** A problem with one option, at `offset` in the text as written. */
export interface OptionProblem {
  offset: number;
  message: string;
}

/**
 * Options that would give a job more than its container has (the host's devices, network,
 * processes, files, kernel rights) or take from Slipway what it must decide: refused by name,
 * each with why. Anything not honoured below is refused too, as unknown.
 */
const REFUSED: Readonly<Record<string, string>> = {
  '--privileged': 'it gives the container every right on the host',
  '--cap-add': 'it widens the kernel rights of the container',
  '--device': "it gives the container a host's device",
  '--device-cgroup-rule': "it gives the container a host's devices",
  '--gpus': "it gives the container a host's devices",
  '--network': "a job's containers are on the unit's own network",
  '--net': "a job's containers are on the unit's own network",
  '--network-alias': 'a service is reached by its name under services:',
  '--add-host': "it changes the container's name resolution outside the unit",
  '--dns': "it changes the container's name resolution outside the unit",
  '--pid': "it shares another process namespace (the host's)",
  '--ipc': "it shares another IPC namespace (the host's)",
  '--uts': "it shares another UTS namespace (the host's)",
  '--userns': "it changes the container's user namespace",
  '--cgroupns': "it changes the container's cgroup namespace",
  '--cgroup-parent': "it moves the container out of the engine's cgroups",
  '--security-opt': "it loosens the container's confinement (seccomp, AppArmor, no-new-privileges)",
  '--volume': "it mounts the host's files",
  '-v': "it mounts the host's files",
  '--mount': "it mounts the host's files",
  '--volumes-from': "it mounts another container's files",
  '--sysctl': "it changes the kernel's settings",
  '--group-add': 'it adds groups (such as the Docker socket owner) to the job',
  '--runtime': 'it chooses another runtime than the engine default',
  '--oom-kill-disable': "it takes the container out of the kernel's memory protection",
  '--oom-score-adj': "it changes the kernel's memory protection",
  '--pids-limit': "the fleet's limits apply",
  '--restart': 'Slipway starts and removes every container itself',
  '--rm': 'Slipway starts and removes every container itself',
  '--entrypoint': "the job container runs Slipway's agent, a service its image's own program",
  '--name':
    'Slipway names every container itself (to find, label and remove it); a service is reached by its key under services:',
  '--label': "Slipway's labels mark what it owns",
  '-l': "Slipway's labels mark what it owns",
  '--publish': "use the container's ports:",
  '-p': "use the container's ports:",
  '--publish-all': "use the container's ports:",
  '-P': "use the container's ports:",
};

/** What is honoured, as the refusal of an unknown option lists it. */
const HONOURED = '--hostname, --env/-e, --shm-size, --ulimit, --cpus, --memory/-m, --user/-u';

const HONOURED_NAMES = new Set([
  '--hostname',
  '--env',
  '--shm-size',
  '--ulimit',
  '--cpus',
  '--memory',
  '--user',
]);

const ALIASES: Readonly<Record<string, string>> = {
  '-e': '--env',
  '-m': '--memory',
  '-u': '--user',
  '-h': '--hostname',
};

const ULIMITS = new Set([
  'core',
  'cpu',
  'data',
  'fsize',
  'locks',
  'memlock',
  'msgqueue',
  'nice',
  'nofile',
  'nproc',
  'rss',
  'rtprio',
  'rttime',
  'sigpending',
  'stack',
]);
const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,62}[A-Za-z0-9])?$/;
const USER = /^[A-Za-z0-9_][A-Za-z0-9_.-]*(?::[A-Za-z0-9_][A-Za-z0-9_.-]*)?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const HAS_MACRO = /\$\([^)]+\)/;

/** Words of `text` as a shell splits them (single and double quotes, backslashes), with offsets. */
export function splitWords(text: string): Array<{ word: string; offset: number }> | OptionProblem {
  const words: Array<{ word: string; offset: number }> = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i]!)) i++;
    if (i >= text.length) break;
    const offset = i;
    let word = '';
    while (i < text.length && !/\s/.test(text[i]!)) {
      const c = text[i]!;
      if (c === "'" || c === '"') {
        const end = text.indexOf(c, i + 1);
        if (end < 0) return { offset: i, message: `unclosed ${c === "'" ? 'single' : 'double'} quote` };
        word += text.slice(i + 1, end);
        i = end + 1;
      } else if (c === '\\' && i + 1 < text.length) {
        word += text[i + 1];
        i += 2;
      } else {
        word += c;
        i++;
      }
    }
    words.push({ word, offset });
  }
  return words;
}

/** Docker's sizes: `512m`, `2g`, `1GiB`, `1048576` (bytes), binary units. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$/i.exec(text.trim());
  if (!m) return undefined;
  const power = m[2] ? 'kmgtp'.indexOf(m[2].toLowerCase()) + 1 : 0;
  const bytes = Math.floor(Number(m[1]) * 1024 ** power);
  return bytes > 0 && Number.isSafeInteger(bytes) ? bytes : undefined;
}

function ulimit(text: string): { name: string; soft: number; hard: number } | string {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(text);
  if (!m) return `--ulimit must be name=soft[:hard], found '${text}'`;
  const name = m[1]!;
  if (!ULIMITS.has(name)) return `--ulimit: unknown limit '${name}' (${[...ULIMITS].join(', ')})`;
  const soft = Number(m[2]);
  const hard = m[3] === undefined ? soft : Number(m[3]);
  if (hard !== -1 && (soft === -1 || soft > hard))
    return `--ulimit ${name}: the soft limit ${soft} is above the hard limit ${hard}`;
  return { name, soft, hard };
}

/**
 * A container's or service's `options:` (a `docker create` command line) → what Slipway
 * honours, or the problems, each at its offset in `text`. Values with `$(macros)` are checked
 * for their shape only once expanded (hostname, user): they are kept as written.
 */
export function parseContainerOptions(text: string): {
  options: ContainerOptions;
  problems: OptionProblem[];
} {
  const split = splitWords(text);
  if (!Array.isArray(split)) return { options: {}, problems: [split] };
  const options: ContainerOptions = {};
  const problems: OptionProblem[] = [];
  for (let i = 0; i < split.length; i++) {
    const { word, offset } = split[i]!;
    if (!word.startsWith('-')) {
      problems.push({ offset, message: `'${word}' is not an option (options start with '-')` });
      continue;
    }
    // `--env=X` and `--env X`; `-eX`, `-e=X` and `-e X`, as Docker reads them.
    const long = word.startsWith('--');
    const eq = word.indexOf('=');
    const name = long ? (eq > 0 ? word.slice(0, eq) : word) : word.slice(0, 2);
    const rest = long ? (eq > 0 ? word.slice(eq + 1) : undefined) : word.slice(2);
    const value = long ? rest : rest === '' ? undefined : rest?.startsWith('=') ? rest.slice(1) : rest;
    const option = ALIASES[name] ?? name;
    // A refused or unknown option's value (if it has one) is not reported again as a word.
    const skipValue = () => {
      if (value === undefined && split[i + 1] && !split[i + 1]!.word.startsWith('-')) i++;
    };
    const refused = REFUSED[name] ?? REFUSED[option];
    if (refused !== undefined) {
      problems.push({ offset, message: `option '${name}' is not allowed: ${refused}` });
      skipValue();
      continue;
    }
    if (!HONOURED_NAMES.has(option)) {
      problems.push({
        offset,
        message: `option '${name}' is not supported by Slipway (it honours ${HONOURED})`,
      });
      skipValue();
      continue;
    }
    let arg = value;
    if (arg === undefined) {
      const next = split[++i];
      if (next === undefined) {
        problems.push({ offset, message: `option '${name}' needs a value` });
        continue;
      }
      arg = next.word;
    }
    const fail = (message: string) => problems.push({ offset, message });
    const macro = HAS_MACRO.test(arg);
    switch (option) {
      case '--hostname':
        if (macro || HOSTNAME.test(arg)) options.hostname = arg;
        else fail(`--hostname '${arg}' is not a valid hostname (letters, digits, '-', '.'; 64 at most)`);
        break;
      case '--env': {
        const at = arg.indexOf('=');
        const key = at < 0 ? arg : arg.slice(0, at);
        if (at < 0)
          fail(`--env ${arg}: give a value (--env ${arg}=value); the host's environment is not the job's`);
        else if (!ENV_NAME.test(key)) fail(`--env: '${key}' is not a variable name`);
        else options.env = { ...options.env, [key]: arg.slice(at + 1) };
        break;
      }
      case '--shm-size':
      case '--memory': {
        const bytes = parseSize(arg);
        if (bytes === undefined) fail(`${option} '${arg}' is not a size (such as 512m or 2g)`);
        else if (option === '--shm-size') options.shmSizeBytes = bytes;
        else if (bytes < 6 * 1024 * 1024) fail(`--memory ${arg} is below Docker's least, 6m`);
        else options.memoryBytes = bytes;
        break;
      }
      case '--cpus': {
        const cpus = Number(arg);
        if (/^\d+(\.\d+)?$/.test(arg) && cpus > 0) options.cpus = cpus;
        else fail(`--cpus '${arg}' is not a positive number of CPUs`);
        break;
      }
      case '--ulimit': {
        const limit = ulimit(arg);
        if (typeof limit === 'string') fail(limit);
        else options.ulimits = [...(options.ulimits ?? []).filter((u) => u.name !== limit.name), limit];
        break;
      }
      case '--user':
        if (macro || USER.test(arg)) options.user = arg;
        else fail(`--user '${arg}' must be name or uid, optionally :group or :gid`);
        break;
    }
  }
  return { options, problems };
}
