import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Integration tests spawn the built CLI and agent: build once when the build is missing or stale. */
export default function setup(): void {
  // For a quick loop on in-process tests while other code is mid-edit.
  if (process.env.SLIPWAY_TEST_NO_BUILD) return;
  const root = join(import.meta.dirname, '..', '..');
  const built = join(root, 'dist', 'cli', 'main.js');
  const bundle = join(root, 'dist', 'agent', 'slipway-agent.mjs');
  const web = join(root, 'dist', 'web', 'public', 'app.js');
  const cli = join(root, 'dist', 'cli-bundle', 'main.js');
  if (
    !existsSync(built) ||
    !existsSync(cli) ||
    !existsSync(bundle) ||
    !existsSync(web) ||
    newestSource(join(root, 'src')) > statSync(built).mtimeMs
  ) {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
  }
}

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (/\.(ts|css|html)$/.test(entry.name) && !entry.name.endsWith('.test.ts'))
      newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}
