import { execFile } from 'node:child_process';
import { access, constants, realpath, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { promisify } from 'node:util';
import { SlipwayError } from '../shared/errors.js';
import { sharedLibraries } from './ldd.js';

const execFileAsync = promisify(execFile);

/** Where host tools are looked up: a fixed list, so a user's PATH cannot change what an image holds. */
export const DEFAULT_HOST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const CA_BUNDLES = [
  '/etc/ssl/certs/ca-certificates.crt',
  '/etc/pki/tls/certs/ca-bundle.crt',
  '/etc/ssl/cert.pem',
];

/** The offline builder copies host files, so a tool the host lacks is a tool the image lacks. */
export class HostToolMissingError extends SlipwayError {
  constructor(
    readonly tool: string,
    readonly hint: string,
  ) {
    super(`the image builder needs ${tool} on this host: ${hint}`);
  }
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

export async function findExecutable(
  name: string,
  searchPath = DEFAULT_HOST_PATH,
): Promise<string | undefined> {
  for (const dir of searchPath.split(':')) {
    if (dir === '') continue;
    const candidate = posix.join(dir, name);
    if (await isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

export async function requireExecutable(
  name: string,
  debianPackage: string,
  searchPath?: string,
): Promise<string> {
  const found = await findExecutable(name, searchPath);
  if (!found) throw new HostToolMissingError(name, `apt-get install ${debianPackage}`);
  return found;
}

/**
 * A busybox that needs no libc: Debian's `busybox` package is dynamic, `busybox-static` is not,
 * and only the static one runs in an image that has no libc at all.
 */
export async function findStaticBusybox(searchPath = DEFAULT_HOST_PATH): Promise<string> {
  const hint = 'apt-get install busybox-static (scripts/ensure-docker.sh installs it)';
  const found = await findExecutable('busybox', searchPath);
  if (!found) throw new HostToolMissingError('a static busybox', hint);
  if ((await sharedLibraries(found)).length > 0) {
    throw new HostToolMissingError('a static busybox', `${found} is dynamically linked; ${hint}`);
  }
  return realpath(found);
}

/** Absolute paths of busybox's applet links (`/usr/bin/awk`, `/bin/sh`, …), from the binary itself. */
export async function busyboxApplets(busybox: string): Promise<string[]> {
  const { stdout } = await execFileAsync(busybox, ['--list-full'], { encoding: 'utf8' });
  return stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => /^(usr\/)?s?bin\/[^/]+$/.test(line))
    .map((line) => `/${line}`);
}

export async function findCaBundle(): Promise<string> {
  for (const candidate of CA_BUNDLES) {
    try {
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
      // try the next distribution's location
    }
  }
  throw new HostToolMissingError('a CA certificate bundle', 'apt-get install ca-certificates');
}

/** npm as installed beside node by the official tarballs, NodeSource and nvm: `<prefix>/lib/node_modules/npm`. */
export async function findNpm(nodePath: string): Promise<string> {
  const prefix = posix.dirname(posix.dirname(await realpath(nodePath)));
  const npm = posix.join(prefix, 'lib/node_modules/npm');
  try {
    await stat(posix.join(npm, 'bin/npm-cli.js'));
    return npm;
  } catch {
    throw new HostToolMissingError('npm beside node', `expected ${npm}/bin/npm-cli.js`);
  }
}

/** git's helper directory (`git-core`), which holds the commands `git clone` and `git fetch` run. */
export async function gitExecPath(git: string): Promise<string> {
  const { stdout } = await execFileAsync(git, ['--exec-path'], { encoding: 'utf8' });
  return stdout.trim();
}

export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
