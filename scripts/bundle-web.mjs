// Bundles the web UI (src/web/client, plain TypeScript and the DOM) into one ES module and copies
// its page and stylesheet beside it, into dist/web/public, which the server serves at `/`.
import { cp, mkdir, stat } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(root, 'dist/web/public');
const outfile = resolve(out, 'app.js');

await mkdir(out, { recursive: true });
const started = performance.now();
try {
  await build({
    entryPoints: [resolve(root, 'src/web/client/main.ts')],
    outfile,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: ['chrome110', 'firefox110', 'safari16'],
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'warning',
  });
} catch {
  // esbuild has already printed the errors.
  process.exit(1);
}
await cp(resolve(root, 'src/web/public'), out, { recursive: true });

const { size } = await stat(outfile);
const ms = Math.round(performance.now() - started);
console.log(`web: ${relative(root, outfile)} ${(size / 1024).toFixed(1)} KiB in ${ms} ms`);
