// Bundles the agent into one self-contained CommonJS file that the agent image (and the volume
// injected into any job image) runs with the bundled node runtime, behind a small ESM entry that
// compiles it with V8's code cache (src/agent/entry.ts), and makes that cache by booting the
// agent once against a stand-in server. No node_modules at runtime.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { englishZodOnly } from './esbuild-english-zod.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const entry = resolve(root, 'src/agent/main.ts');
const outfile = resolve(root, 'dist/agent/slipway-agent.cjs');
const entryOutfile = resolve(root, 'dist/agent/slipway-agent.mjs');
const cacheFile = `${outfile}.cache`;

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
const before = await readFile(outfile).catch(() => undefined);
try {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    // CommonJS: V8 compiles a script with a code cache (vm.Script's cachedData), not a module.
    format: 'cjs',
    target: 'node20',
    sourcemap: false,
    // Half the bytes to read and compile at each start. Names are kept: errors are told apart
    // by their class names (`new.target.name`), on the wire too.
    minify: true,
    keepNames: true,
    legalComments: 'none',
    logLevel: 'warning',
    plugins: [refuseNative, pureSources, englishZodOnly],
  });
  await build({
    entryPoints: [resolve(root, 'src/agent/entry.ts')],
    outfile: entryOutfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    minify: true,
    logLevel: 'warning',
  });
} catch {
  // esbuild has already printed the errors.
  process.exit(1);
}

// V8's cache differs from run to run: one made for the same bundle is kept, so the agent image
// (whose inputs hash covers it) is not rebuilt after a build that changed nothing.
const unchanged = before !== undefined && (await readFile(outfile)).equals(before);
if (!unchanged || !(await stat(cacheFile).catch(() => undefined))) {
  await rm(cacheFile, { force: true });
  await writeCodeCache();
}

const { size } = await stat(outfile);
const cache = await stat(cacheFile);
const ms = Math.round(performance.now() - started);
console.log(
  `bundle: ${relative(root, outfile)} ${(size / 1024).toFixed(1)} KiB, code cache ${(cache.size / 1024).toFixed(1)} KiB, in ${ms} ms`,
);

/**
 * Boots the agent once as a fleet starts it (a ticket, a Unix socket), against a stand-in that
 * refuses it, and keeps what V8 compiled on the way: module evaluation, config, the first request.
 * The node running this build is the agent image's (`slipway image build` takes the same one).
 */
async function writeCodeCache() {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-code-cache-'));
  const socket = join(dir, 'stand-in.sock');
  const standIn = createServer((_req, res) => {
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'unauthorized', message: 'code cache run' } }));
  });
  try {
    await new Promise((r) => standIn.listen(socket, r));
    await writeFile(join(dir, 'ticket'), 'slw_jit_codecache\n');
    const args = ['agent', 'run', '--url', `unix://${socket}`, '--ticket-file', join(dir, 'ticket')];
    args.push('--pool', 'default', '--name', 'code-cache', '--work', join(dir, 'work'));
    const child = spawn(process.execPath, [entryOutfile, ...args], {
      stdio: 'ignore',
      env: { PATH: process.env.PATH ?? '', SLIPWAY_AGENT_WRITE_CODE_CACHE: cacheFile },
    });
    await new Promise((r) => child.once('close', r));
  } finally {
    standIn.close();
    await rm(dir, { recursive: true, force: true });
  }
}
