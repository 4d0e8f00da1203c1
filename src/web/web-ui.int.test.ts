import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunView } from '../protocol/index.js';
import { killAll, ROOT, spawnAgent, startTestServer, type TestServer } from '../test-support/harness.js';

// What the functions evaluated in the page use (this file is type-checked without the DOM's types).
declare const document: {
  cookie: string;
  body: { dataset: Record<string, string | undefined> };
  activeElement: { textContent: string | null; getAttribute(name: string): string | null } | null;
  querySelectorAll(selector: string): Iterable<{
    textContent: string | null;
    querySelector(selector: string): { textContent: string | null } | null;
  }>;
  documentElement: { scrollWidth: number };
};
declare const window: { __pwned?: number };
declare function getComputedStyle(el: unknown): { color: string };

/**
 * Evaluated in the page: every element with text of its own whose colour is below WCAG AA
 * contrast (4.5:1, 3:1 for large text) against its effective background.
 */
const LOW_CONTRAST = `(() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const low = [];
  for (const el of document.querySelectorAll('body *')) {
    if (el.closest('svg') || el.closest('.log-rows .txt span[class*="fg-"], .log-rows .txt span[class*="bg-"]')) continue;
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length) continue;
    const style = getComputedStyle(el);
    const [a, b] = [lum(rgb(style.color).slice(0, 3)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) low.push(el.tagName + '.' + el.className + ' "' + el.textContent.trim().slice(0, 30) + '" ' + ratio.toFixed(2));
  }
  return low;
})()`;

const CHROMIUM = '/usr/bin/chromium';
/** The README's screenshots are refreshed only when asked (SLIPWAY_UPDATE_SCREENSHOTS=1); else they go to a temp folder. */
const SHOTS =
  process.env.SLIPWAY_UPDATE_SCREENSHOTS === '1'
    ? join(ROOT, 'docs', 'screenshots')
    : join(tmpdir(), `slipway-screenshots-${process.pid}`);

/** A step that prints colours, markup, a folded group and then a line every quarter second. */
const LONG = `
steps:
- bash: |
    printf '\\033[31mred text\\033[0m and plain\\n'
    echo '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
    echo '##[group]Build details'
    echo 'inside the group'
    echo '##[endgroup]'
    for i in $(seq 1 400); do
      echo "tick $i"
      if [ $((i % 3)) = 0 ]; then printf '\\033[32mok\\033[0m   module %d built \\033[2m(%d ms)\\033[0m\\n' $i $((i * 7)); fi
      if [ $((i % 10)) = 0 ]; then echo "##[warning]module $i is slow"; fi
      sleep 0.25
    done
  displayName: Count slowly
`;
const QUICK = `
steps:
- script: echo second run here
  displayName: Say so
`;
const STAGES = `
stages:
- stage: build
  jobs:
  - job: compile
    steps:
    - script: echo compiling
  - job: lint
    steps:
    - script: echo linting
- stage: test
  dependsOn: build
  jobs:
  - job: unit
    steps:
    - script: echo unit tests
  - job: e2e
    dependsOn: unit
    steps:
    - script: echo end to end
`;
const HUGE = `
steps:
- bash: seq 1 100000
  displayName: A hundred thousand lines
`;

describe('the web UI in a real browser', () => {
  let ts: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];
  let long: RunView;

  const queue = (content: string) =>
    ts.client.createRun({ pipeline: { file: 'azure-pipelines.yml', content } }, { token: ts.adminToken });
  const runState = async (id: string) =>
    (await ts.client.request<RunView>(`runs/${id}`, { token: ts.adminToken })).body;
  const shot = async (name: string) => {
    await mkdir(SHOTS, { recursive: true });
    await page.screenshot({ path: join(SHOTS, name) });
    // Each page photographed is also held to the contrast its readers need.
    expect(await page.evaluate(LOW_CONTRAST), name).toEqual([]);
  };

  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`${CHROMIUM} is missing: scripts/ensure-chromium.sh installs it`);
    ts = await startTestServer();
    await spawnAgent(ts, 'ui-agent');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
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
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    // A policy violation or a script error anywhere fails the test at its end.
    page.on('console', (m) => {
      // Refused sign-ins and signed-out calls log their 401s; those are expected.
      if (m.type() === 'error' && !/status of 401/.test(m.text())) problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
  });

  afterAll(async () => {
    await browser?.close();
    await killAll();
    await ts?.stop();
  });

  it('shows nothing without a session, and every answer carries a strict policy', async () => {
    const api = await fetch(`${ts.url}/api/v1/runs`);
    expect(api.status).toBe(401);
    expect(api.headers.get('content-security-policy')).toContain("script-src 'self'");
    const home = await fetch(`${ts.url}/runs`);
    expect(home.status).toBe(200);
    const csp = home.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(home.headers.get('x-frame-options')).toBe('DENY');
    expect(await home.text()).not.toMatch(/<script>|<script [^>]*>[^<]/);

    await page.goto(`${ts.url}/runs`);
    await page.getByLabel('Token').waitFor();
    expect(await page.locator('table').count()).toBe(0);
  });

  it('signs in with a token that becomes an HttpOnly, SameSite=Strict session; the token is never shown', async () => {
    await page.getByLabel('Token').fill('slw_adm_wrong');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Sign-in refused' }).waitFor();

    await page.getByLabel('Token').fill(ts.adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Runs' }).waitFor();
    expect(page.url()).toBe(`${ts.url}/runs`);

    const cookies = await context.cookies();
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toMatchObject({ name: 'slipway_session', httpOnly: true, sameSite: 'Strict' });
    expect(cookies[0]!.value).not.toBe(ts.adminToken);
    expect(await page.evaluate(() => document.cookie)).toBe('');
    expect(await page.content()).not.toContain(ts.adminToken);
  });

  it('refuses state changes signed in by cookie from anywhere but the UI itself', async () => {
    const session = (await context.cookies())[0]!.value;
    const run = await queue(QUICK);
    const cancel = (headers: Record<string, string>) =>
      fetch(`${ts.url}/api/v1/runs/${run.id}/cancel`, {
        method: 'POST',
        headers: { cookie: `slipway_session=${session}`, 'content-type': 'application/json', ...headers },
        body: '{}',
      });
    // A cross-site form: no custom header. A cross-site script: a foreign Origin.
    expect((await cancel({ origin: ts.url })).status).toBe(403);
    expect((await cancel({ 'x-slipway-request': '1', origin: 'http://evil.example' })).status).toBe(403);
    expect((await cancel({ 'x-slipway-request': '1' })).status).toBe(403);
    const read = await fetch(`${ts.url}/api/v1/runs/${run.id}`, {
      headers: { cookie: `slipway_session=${session}` },
    });
    expect(read.status).toBe(200);
  });

  it('follows a running job: the live log grows, colours are drawn and markup stays text', async () => {
    long = await queue(LONG);
    await page.getByRole('link', { name: `#${long.number}`, exact: true }).click();
    await page.getByRole('heading', { name: new RegExp(`^Run #${long.number}`) }).waitFor();
    await page.locator('a.job-box').first().click();
    const log = page.getByRole('log', { name: 'Job log' });
    await log.getByText('tick 3', { exact: true }).waitFor({ timeout: 30_000 });
    // The newest line on screen now, then one that is printed seconds later, while the page is open.
    const ticks = await log.locator('.txt').allInnerTexts();
    const newest = Math.max(...ticks.map((t) => Number(/^tick (\d+)$/.exec(t)?.[1] ?? 0)));
    await log.getByText(`tick ${newest + 8}`, { exact: true }).waitFor({ timeout: 30_000 });

    const red = log.locator('.fg-1', { hasText: 'red text' });
    // The log redraws as lines arrive: a node read mid-redraw is detached (no style); read again.
    await expect
      .poll(() => red.evaluate((el) => (el.isConnected ? getComputedStyle(el).color : '')))
      .toBe('rgb(255, 123, 114)');
    await log.getByText('<script>window.__pwned = 1</script><img src=x', { exact: false }).waitFor();
    expect(await page.evaluate(() => window.__pwned)).toBeUndefined();
    expect(await log.locator('script, img').count()).toBe(0);

    // The group is folded until opened.
    expect(await log.getByText('inside the group').count()).toBe(0);
    const group = log.getByRole('button', { name: /Build details/ });
    expect(await group.getAttribute('aria-expanded')).toBe('false');
    await group.click();
    await log.getByText('inside the group').waitFor();
    await log.getByText('tick 16', { exact: true }).waitFor({ timeout: 30_000 });
    await shot('job-log.png');
  });

  it('explains in the queue why a job waits', async () => {
    const second = await queue(QUICK);
    await page.getByRole('link', { name: 'Queue' }).click();
    const row = page.locator('tr', {
      has: page.getByRole('link', { name: `#${second.number}`, exact: true }),
    });
    await row.waitFor();
    await row.locator('.kind', { hasText: 'Waiting' }).waitFor();
    expect(await row.locator('.reason').textContent()).toMatch(/busy/);
    // The list refreshes itself; a keyboard user's place in it stays.
    const link = row.getByRole('link', { name: `#${second.number}`, exact: true });
    await link.focus();
    const waited = await row.locator('time').textContent();
    await page.waitForFunction(
      ([n, before]) => {
        const rows = [...document.querySelectorAll('tr')].filter((r) => r.textContent?.includes(`#${n}`));
        return rows.some((r) => r.querySelector('time')?.textContent !== before);
      },
      [second.number, waited] as const,
      { timeout: 20_000 },
    );
    expect(await page.evaluate(() => document.activeElement?.getAttribute('href'))).toBe(
      `/runs/${second.number}`,
    );
    await shot('queue.png');
  });

  it('cancels a run and re-runs it', async () => {
    await page.goto(`${ts.url}/runs/${long.number}`);
    await page.getByRole('button', { name: 'Cancel run' }).click();
    await page.locator('h1 .badge', { hasText: 'Canceled' }).waitFor({ timeout: 30_000 });
    expect((await runState(long.id)).result).toBe('canceled');

    await page.getByRole('button', { name: 'Re-run failed jobs' }).waitFor();
    await page.getByRole('button', { name: 'Re-run', exact: true }).click();
    await page.getByText(`#${long.number}`, { exact: true }).waitFor();
    const heading = await page.locator('h1').textContent();
    const number = Number(/Run #(\d+)/.exec(heading ?? '')?.[1]);
    expect(number).toBeGreaterThan(long.number);
    const rerun = await runState(String(number));
    expect(rerun.jobs.map((j) => j.name)).toEqual(long.jobs.map((j) => j.name));
    await ts.client.cancelRun(rerun.id, { token: ts.adminToken });

    await page.getByRole('link', { name: 'Runs', exact: true }).first().click();
    await page.getByRole('link', { name: `#${number}`, exact: true }).waitFor();
    await shot('runs.png');
  });

  it('filters the runs list', async () => {
    await page.getByLabel('Status').selectOption('canceled');
    await page.waitForURL(/status=canceled/);
    await page.getByRole('link', { name: `#${long.number}`, exact: true }).waitFor();
    const states = await page.locator('tbody tr .badge').allInnerTexts();
    expect(states.length).toBeGreaterThan(0);
    for (const s of states) expect(s).toContain('Canceled');
  });

  it('draws the jobs of a run as a dependency graph and a timeline', async () => {
    const run = await queue(STAGES);
    await page.goto(`${ts.url}/runs/${run.number}`);
    await page.locator('h1 .badge', { hasText: 'Succeeded' }).waitFor({ timeout: 60_000 });
    const boxes = page.locator('a.job-box');
    expect(await boxes.count()).toBe(4);
    // compile and lint → unit (the stage waits for both), unit → e2e.
    expect(await page.locator('.graph .edge').count()).toBe(3);
    expect(await page.getByRole('link', { name: /^e2e: Succeeded/ }).count()).toBe(1);
    expect(await page.locator('.tl-rows li .bar.state-succeeded').count()).toBe(4);
    await shot('run.png');
  });

  it('scrolls a 100,000-line log with only the lines on screen in the page, finds a line and links to it', async () => {
    const huge = await queue(HUGE);
    await page.goto(`${ts.url}/runs/${huge.number}/jobs/${huge.jobs[0]!.name}`);
    await page.waitForFunction(() => document.body.dataset.logDone === 'true', null, { timeout: 60_000 });
    const log = page.getByRole('log', { name: 'Job log' });
    await log.locator('.txt', { hasText: /^100000$/ }).waitFor();
    expect(await log.locator('.log-line').count()).toBeLessThan(200);

    await page.getByLabel('Find in log').fill('77777');
    await page.getByText('1 of 1').waitFor();
    await log.locator('.log-line.current', { hasText: '77777' }).waitFor();

    // A link to a line: opened afresh, and followed from the same page.
    const other = await context.newPage();
    await other.goto(`${ts.url}/runs/${huge.number}/jobs/${huge.jobs[0]!.name}#L4242`);
    await other.locator('.log-line.selected', { hasText: '4242' }).waitFor({ timeout: 30_000 });
    await other.close();
    await page.goto(`${ts.url}/runs/${huge.number}/jobs/${huge.jobs[0]!.name}#L99000`);
    await log.locator('.log-line.selected', { hasText: '99000' }).waitFor();
  });

  it('shows pools and agents with their state and current job', async () => {
    await page.getByRole('link', { name: 'Agents' }).click();
    const row = page.locator('tr', { has: page.getByRole('cell', { name: 'ui-agent', exact: true }) });
    await row.waitFor();
    await row.locator('.agent-state', { hasText: /^(idle|busy)$/ }).waitFor();
    expect(await row.getByText(/capabilities$/).count()).toBe(1);
  });

  it('works by keyboard and fits a narrow screen', async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    await page.goto(`${ts.url}/runs`);
    await page.getByRole('heading', { name: 'Runs' }).waitFor();
    // Skip link first, then the page: Enter on a focused run link opens that run.
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    const first = page.locator('tbody a').first();
    await first.focus();
    const name = await first.textContent();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: new RegExp(`^Run ${name}`) }).waitFor();
    // Wide things (tables, the graph, the log) scroll inside themselves, never the page.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await page.locator('a.job-box').first().focus();
    await page.keyboard.press('Enter');
    await page.getByRole('log', { name: 'Job log' }).waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it('signs out: the session is revoked, not just forgotten', async () => {
    const session = (await context.cookies())[0]!.value;
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Token').waitFor();
    const after = await fetch(`${ts.url}/api/v1/runs`, { headers: { cookie: `slipway_session=${session}` } });
    expect(after.status).toBe(401);
    expect(problems).toEqual([]);
  });
});
