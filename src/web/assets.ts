import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The UI's built files: `npm run build` bundles `src/web/client` and copies `src/web/public`
 * into `dist/web/public`. Found from this module's own place, which is `src/web` when run from
 * source (tests) and `dist/web` when built: both lead to the same folder.
 */
export const WEB_ROOT = fileURLToPath(new URL('../../dist/web/public/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json; charset=utf-8',
};

export interface WebAsset {
  body: Buffer;
  contentType: string;
}

/** Serves the UI's few files from memory once read; names outside the folder are refused. */
export class WebAssets {
  private readonly cache = new Map<string, WebAsset>();

  constructor(private readonly root: string = WEB_ROOT) {}

  /** The file `name` (`app.js`, `style.css`, …), or undefined when there is none. */
  async get(name: string): Promise<WebAsset | undefined> {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || name.includes('..')) return undefined;
    const type = TYPES[extname(name)];
    if (!type) return undefined;
    const cached = this.cache.get(name);
    if (cached) return cached;
    try {
      const asset = { body: await readFile(join(this.root, name)), contentType: type };
      this.cache.set(name, asset);
      return asset;
    } catch {
      // Not cached: a build may make it meanwhile.
      return undefined;
    }
  }
}
