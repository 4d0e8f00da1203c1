import { Header } from 'tar';
import { TICKET_DIR, TICKET_PATH, WORK_HOME, WORK_MOUNT } from './container-spec.js';

const MTIME = new Date('2024-01-01T00:00:00Z');

interface Entry {
  path: string;
  mode: number;
  data?: Buffer;
}

/**
 * The tar written into a created, not yet started, agent container at `/`. It carries the
 * ticket as a file (never Env, Cmd or Labels, which `docker inspect` shows) in a directory the
 * agent may delete it from, whatever user the image runs as. Listing the work volume's root
 * sets its mode: the engine applies a directory entry's mode to an existing directory, and a
 * fresh volume is otherwise root's 0755, which non-root images could not write.
 */
export function ticketArchive(ticket: string): Buffer {
  const entries: Entry[] = [
    // No entry for `run/` itself: its mode in the image stays as it is (made 0755 if missing).
    { path: `${rel(TICKET_DIR)}/`, mode: 0o777 },
    { path: rel(TICKET_PATH), mode: 0o444, data: Buffer.from(`${ticket}\n`) },
    { path: `${rel(WORK_MOUNT)}/`, mode: 0o1777 },
    { path: `${rel(WORK_HOME)}/`, mode: 0o1777 },
  ];
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const size = e.data?.length ?? 0;
    const header = new Header({
      path: e.path,
      type: e.data ? 'File' : 'Directory',
      mode: e.mode,
      uid: 0,
      gid: 0,
      size,
      mtime: MTIME,
    });
    header.encode();
    blocks.push(header.block!);
    if (e.data) blocks.push(e.data, Buffer.alloc((512 - (size % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

function rel(path: string): string {
  return path.replace(/^\/+/, '');
}
