// The agent bundle's entry (`slipway-agent.mjs`): runs the agent (`slipway-agent.cjs`, bundled
// from main.ts) with V8's code cache beside it (`slipway-agent.cjs.cache`), made by the build.
// Reading and compiling the bundle's code at every container start was a third of the agent's
// boot CPU; with the cache V8 takes the bytecode of everything the boot runs as it is. A cache
// that does not fit (another node, other V8 flags, another bundle) is refused by V8, and the
// agent is compiled as it would be without one.
import { readFileSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

const bundle = fileURLToPath(new URL('./slipway-agent.cjs', import.meta.url));
const cacheFile = `${bundle}.cache`;
// Set by the build only: run once, then write what was compiled as the cache.
const writeCacheTo = process.env.SLIPWAY_AGENT_WRITE_CODE_CACHE;

let cachedData: Buffer | undefined;
if (!writeCacheTo) {
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    // No cache: compiled from source.
  }
}
const script = new Script(Module.wrap(readFileSync(bundle, 'utf8')), { filename: bundle, cachedData });
if (writeCacheTo) process.once('exit', () => writeFileSync(writeCacheTo, script.createCachedData()));
const module = { exports: {} };
const run = script.runInThisContext() as (...args: unknown[]) => void;
run.call(module.exports, module.exports, createRequire(bundle), module, bundle, dirname(bundle));
