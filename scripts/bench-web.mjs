// `npm run bench:web`: how soon the runs page shows its runs, with 1,000 runs in the store, in
// Debian's chromium on this machine. Prints the median of several fresh loads (ms after the
// navigation started): first contentful paint, the runs table in the document, and painted.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startServer } from '../dist/server/index.js';

const RUNS = Number(process.env.SLIPWAY_BENCH_WEB_RUNS ?? 1000);
const LOADS = Number(process.env.SLIPWAY_BENCH_WEB_LOADS ?? 7);

const dir = await mkdtemp(join(tmpdir(), 'slipway-bench-web-'));
const server = await startServer({
  config: { host: '127.0.0.1', port: 0, dataDir: dir, logLevel: 'silent' },
});
const token = (await readFile(server.adminTokenFile, 'utf8')).trim();
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ],
});
try {
  const started = performance.now();
  const content =
    'jobs:\n- job: build\n  steps:\n  - script: echo hi\n- job: test\n  dependsOn: build\n  steps:\n  - script: echo hi\n';
  for (let i = 0; i < RUNS; i += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, RUNS - i) }, () =>
        fetch(`${server.url}/api/v1/runs`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ pipeline: { file: 'azure-pipelines.yml', content } }),
        }).then((r) => {
          if (r.status !== 201) throw new Error(`creating a run answered ${r.status}`);
        }),
      ),
    );
  }
  console.log(`${RUNS} runs queued in ${Math.round(performance.now() - started)} ms`);

  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(server.url);
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Runs' }).waitFor();

  const samples = [];
  for (let i = 0; i < LOADS; i++) {
    await page.goto(`${server.url}/runs`);
    samples.push(
      await page.evaluate(
        () =>
          new Promise((resolve) => {
            const done = () => {
              const rendered = performance.getEntriesByName('slipway:page-rendered')[0]?.startTime;
              requestAnimationFrame(() =>
                setTimeout(() => {
                  const fcp = performance.getEntriesByName('first-contentful-paint')[0]?.startTime;
                  resolve({
                    fcp,
                    rendered,
                    painted: performance.now(),
                    rows: document.querySelectorAll('tbody tr').length,
                  });
                }, 0),
              );
            };
            if (performance.getEntriesByName('slipway:page-rendered').length) done();
            else
              new PerformanceObserver((_l, o) => {
                o.disconnect();
                done();
              }).observe({ entryTypes: ['mark'] });
          }),
      ),
    );
  }
  const median = (key) => {
    const v = samples.map((s) => s[key]).sort((a, b) => a - b);
    return Math.round(v[Math.floor(v.length / 2)]);
  };
  console.log(
    `runs page (${samples[0].rows} rows shown of ${RUNS}), median of ${LOADS} loads: first contentful paint ${median('fcp')} ms, table in the document ${median('rendered')} ms, table painted ${median('painted')} ms (goal < 300 ms)`,
  );
} finally {
  await browser.close();
  await server.stop();
  await rm(dir, { recursive: true, force: true });
}
