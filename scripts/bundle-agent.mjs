// Bundles the agent into one self-contained ESM file that the agent image (and the volume
// injected into any job image) runs with the bundled node runtime. No node_modules at runtime.
import { mkdir, stat } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { englishZodOnly } from './esbuild-english-zod.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const entry = resolve(root, 'src/agent/main.ts');
const outfile = resolve(root, 'dist/agent/slipway-agent.mjs');

// The agent runs in images whose libc we do not know: a native addon built against the host's
// glibc (better-sqlite3 above all) would load nowhere else, so any native module fails the build.
const NATIVE_PACKAGES = [
  'better-sqlite3',
  'bindings',
  'node-gyp-build',
  'cpu-features',
  'ssh2',
  'bufferutil',
];

/** @type {import('esbuild').Plugin} */
const refuseNative = {
  name: 'refuse-native',
  setup(b) {
    const packages = new RegExp(`^(${NATIVE_PACKAGES.join('|')})(/|$)`);
    b.onResolve({ filter: packages }, (args) => ({
      errors: [
        { text: `the agent bundle must not depend on native module "${args.path}" (from ${args.importer})` },
      ],
    }));
    b.onResolve({ filter: /\.node$/ }, (args) => ({
      errors: [
        { text: `the agent bundle must not load native addon "${args.path}" (from ${args.importer})` },
      ],
    }));
  },
};

/**
 * Our own modules have no effects on import (house style: only a `main.ts` acts), so a module
 * none of whose exports the agent uses is left out, with what it imports: the agent reaches the
 * pipeline's index for a few helpers and would otherwise carry the YAML parser and the whole
 * pipeline reader, read and compiled at every container start.
 * @type {import('esbuild').Plugin}
 */
/** The one source module imported for its effect: it configures zod before any schema is built. */
const zodJitless = resolve(root, 'src/shared/zod-jitless.ts');
const pureSources = {
  name: 'pure-sources',
  setup(b) {
    const src = `${resolve(root, 'src')}/`;
    b.onResolve({ filter: /^\.\.?\// }, async (args) => {
      if (args.pluginData?.inner || !args.importer.startsWith(src)) return undefined;
      const found = await b.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: { inner: true },
      });
      if (found.errors.length > 0 || found.path === entry || found.path === zodJitless) return undefined;
      return { ...found, sideEffects: false };
    });
  },
};

await mkdir(dirname(outfile), { recursive: true });
const started = performance.now();
try {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: false,
    // Half the bytes to read and compile at each start. Names are kept: errors are told apart
    // by their class names (`new.target.name`), on the wire too.
    minify: true,
    keepNames: true,
    legalComments: 'none',
    logLevel: 'warning',
    plugins: [refuseNative, pureSources, englishZodOnly],
    // CommonJS dependencies call require() for node built-ins; ESM output has no require of its own.
    banner: {
      js: "import { createRequire as __slipwayCreateRequire } from 'node:module'; const require = __slipwayCreateRequire(import.meta.url);",
    },
  });
} catch {
  // esbuild has already printed the errors.
  process.exit(1);
}

const { size } = await stat(outfile);
const ms = Math.round(performance.now() - started);
console.log(`bundle: ${relative(root, outfile)} ${(size / 1024).toFixed(1)} KiB in ${ms} ms`);
