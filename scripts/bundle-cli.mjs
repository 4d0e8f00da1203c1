// Bundles the CLI into `dist/cli-bundle/`, which `bin/slipway` runs: one file for the common
// commands instead of some hundred modules to resolve and read (ours, zod's, commander's) at
// every start. Dynamic imports stay chunks of their own, so a command still loads only what it
// uses. Packages of the server side (fastify, the stores, Docker, Kubernetes, S3, pino, …) stay
// outside: they are loaded from node_modules by the commands that need them, as before.
import { rm, stat } from 'node:fs/promises';
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { englishZodOnly } from './esbuild-english-zod.mjs';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const outdir = resolve(root, 'dist/cli-bundle');
/** What the client commands load at every start: bundled. Every other package stays external. */
const BUNDLED = new Set(['commander', 'zod', 'yaml', 'tar', 'minipass', 'minizlib', 'chownr', 'yallist']);
BUNDLED.add('@isaacs/fs-minipass');

/** @type {import('esbuild').Plugin} */
const externalServerPackages = {
  name: 'external-server-packages',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:')) return { path: args.path, external: true };
      const parts = args.path.split('/');
      const name = args.path.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
      return BUNDLED.has(name) ? undefined : { path: args.path, external: true };
    });
  },
};

await rm(outdir, { recursive: true, force: true });
const started = performance.now();
try {
  await build({
    entryPoints: [resolve(root, 'src/cli/main.ts')],
    outdir,
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Names kept: errors are told apart by their class names (`new.target.name`).
    minify: true,
    keepNames: true,
    legalComments: 'none',
    logLevel: 'warning',
    plugins: [englishZodOnly, externalServerPackages],
    // CommonJS dependencies call require() for node built-ins; ESM output has no require of its own.
    banner: {
      js: "import { createRequire as __slipwayCreateRequire } from 'node:module'; const require = __slipwayCreateRequire(import.meta.url);",
    },
  });
} catch {
  // esbuild has already printed the errors.
  process.exit(1);
}
const { size } = await stat(resolve(outdir, 'main.js'));
const ms = Math.round(performance.now() - started);
console.log(`cli: ${relative(root, outdir)}/main.js ${(size / 1024).toFixed(1)} KiB in ${ms} ms`);
