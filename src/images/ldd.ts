import { execFile } from 'node:child_process';
import { open } from 'node:fs/promises';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface SharedLibrary {
  /** The name the binary asks for (its DT_NEEDED soname), or the loader's file name. */
  name: string;
  /** Where the host resolved it; may be a symlink, so copy it dereferenced. */
  path: string;
}

/** Parses `ldd` output (glibc and musl print the same shapes); the vDSO is skipped. */
export function parseLddOutput(output: string, binary = 'binary'): SharedLibrary[] {
  const libraries: SharedLibrary[] = [];
  for (const raw of output.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('linux-vdso') || line.startsWith('linux-gate')) continue;
    const arrow = /^(\S+) => (.+?)(?: \(0x[0-9a-f]+\))?$/.exec(line);
    if (arrow) {
      const name = arrow[1]!;
      const target = arrow[2]!;
      if (target === 'not found') throw new Error(`${binary} needs ${name}, which the host does not have`);
      // musl's ldd lists the loader as `ld-musl-x86_64.so.1 => /lib/ld-musl-x86_64.so.1`.
      libraries.push({ name, path: target });
      continue;
    }
    const bare = /^(\/\S+)(?: \(0x[0-9a-f]+\))?$/.exec(line);
    if (bare) {
      const path = bare[1]!;
      libraries.push({ name: path.slice(path.lastIndexOf('/') + 1), path });
    }
  }
  return libraries;
}

/** The libraries `ldd` lists for a binary, the loader included; [] for static binaries and scripts. */
export async function sharedLibraries(binary: string): Promise<SharedLibrary[]> {
  try {
    const { stdout } = await execFileAsync('ldd', [binary], { encoding: 'utf8' });
    return parseLddOutput(stdout, binary);
  } catch (error) {
    const e = error as { code?: unknown; stdout?: string; stderr?: string };
    const said = `${e.stdout ?? ''}${e.stderr ?? ''}`;
    if (/not a dynamic executable|statically linked|Not a valid dynamic program/.test(said)) return [];
    if (e.code === 'ENOENT')
      throw new Error('ldd is not installed on this host (package libc-bin)', { cause: error });
    throw new Error(`ldd ${binary} failed: ${said.trim() || String(error)}`, { cause: error });
  }
}

/** Whether a file starts with the ELF magic: only those need their libraries copied. */
export async function isElf(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const magic = Buffer.alloc(4);
    const { bytesRead } = await handle.read(magic, 0, 4, 0);
    return bytesRead === 4 && magic.toString('latin1') === '\x7fELF';
  } finally {
    await handle.close();
  }
}
