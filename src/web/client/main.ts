import { currentSession, type Session, SignedOut, signOut } from './api.js';
import { h, replace } from './dom.js';
import { agentsPage } from './pages/agents.js';
import { jobPage } from './pages/job.js';
import type { Page, PageContext } from './pages/page.js';
import { queuePage } from './pages/queue.js';
import { runPage } from './pages/run.js';
import { runsPage } from './pages/runs.js';
import { signInPage } from './pages/signin.js';

const ROUTES: [RegExp, Page][] = [
  [/^\/runs\/?$/, runsPage],
  [/^\/runs\/([^/]+)\/?$/, runPage],
  [/^\/runs\/([^/]+)\/jobs\/([^/]+)\/?$/, jobPage],
  [/^\/queue\/?$/, queuePage],
  [/^\/agents\/?$/, agentsPage],
];

const NAV: [string, string][] = [
  ['/runs', 'Runs'],
  ['/queue', 'Queue'],
  ['/agents', 'Agents'],
];

let session: Session | undefined;
let leaving: AbortController | undefined;
/** The path and query of the page on screen. */
let shown = '';
const main = h('main', { id: 'main', tabindex: -1 });
const nav = h('nav', { 'aria-label': 'Main' });
const header = h(
  'header',
  { class: 'top' },
  h('a', { class: 'skip', href: '#main' }, 'Skip to content'),
  h('a', { class: 'brand', href: '/runs' }, 'Slipway'),
  nav,
);

/** Goes to `path` inside the UI without reloading the page. */
export function navigate(path: string, replaceEntry = false): void {
  if (replaceEntry) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  void render();
}

async function render(): Promise<void> {
  leaving?.abort();
  const controller = new AbortController();
  leaving = controller;
  const path = location.pathname;
  shown = path + location.search;
  if (!session) {
    try {
      session = await currentSession();
    } catch (err) {
      if (!(err instanceof SignedOut)) return showError(err);
    }
  }
  if (!session) return showSignIn();
  if (path === '/' || path === '/signin') return navigate('/runs', true);
  drawNav(path);
  const route = ROUTES.find(([re]) => re.test(path));
  if (!route) {
    document.title = 'Not found · Slipway';
    replace(
      main,
      h('h1', {}, 'Not found'),
      h('p', {}, 'No page here. ', h('a', { href: '/runs' }, 'See the runs.')),
    );
    return;
  }
  const params = (route[0].exec(path) ?? []).slice(1).map((p) => decodeURIComponent(p));
  const ctx: PageContext = {
    params,
    query: new URLSearchParams(location.search),
    signal: controller.signal,
    session,
    navigate,
    title: (t) => {
      document.title = `${t} · Slipway`;
    },
    signedOut: () => {
      session = undefined;
      void render();
    },
  };
  try {
    const el = await route[1](ctx);
    if (controller.signal.aborted) return;
    replace(main, el);
    // For `npm run bench:web`: when the page's content is in the document.
    performance.mark('slipway:page-rendered');
  } catch (err) {
    if (controller.signal.aborted) return;
    if (err instanceof SignedOut) return ctx.signedOut();
    showError(err);
  }
}

function drawNav(path: string): void {
  const links = NAV.map(([href, label]) =>
    h('a', { href, 'aria-current': path.startsWith(href) ? 'page' : undefined }, label),
  );
  const out = h(
    'button',
    {
      type: 'button',
      class: 'link',
      on: {
        click: async () => {
          await signOut().catch(() => undefined);
          session = undefined;
          navigate('/signin');
        },
      },
    },
    'Sign out',
  );
  replace(nav, links, out);
}

function showSignIn(): void {
  replace(nav);
  document.title = 'Sign in · Slipway';
  replace(
    main,
    signInPage((s) => {
      session = s;
      const path = location.pathname === '/signin' || location.pathname === '/' ? '/runs' : location.pathname;
      navigate(path + location.search, true);
    }),
  );
  main.querySelector('input')?.focus();
}

function showError(err: unknown): void {
  replace(
    main,
    h('h1', {}, 'Something went wrong'),
    h('p', { role: 'alert' }, err instanceof Error ? err.message : String(err)),
  );
}

// Links inside the UI move without a reload; downloads, other windows and the API are left alone.
document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  // SVG links too (the run's graph): read attributes, which both kinds of link have.
  const a = (e.target as Element).closest?.('a');
  const href = a?.getAttribute('href');
  if (!a || !href || a.getAttribute('target') || a.hasAttribute('download')) return;
  const url = new URL(href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
  if (url.pathname === location.pathname && url.search === location.search && url.hash) return;
  e.preventDefault();
  if (url.pathname + url.search !== location.pathname + location.search) navigate(url.pathname + url.search);
});
// A new line anchor (`#L12`) is the page's own business; only a new path or query is a new page.
window.addEventListener('popstate', () => {
  if (location.pathname + location.search !== shown) void render();
});

document.body.append(header, main);
void render();
