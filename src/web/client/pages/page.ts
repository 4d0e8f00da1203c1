import type { Session } from '../api.js';

/** What a page gets: the path's parts, the query, and a signal that aborts when it is left. */
export interface PageContext {
  params: string[];
  query: URLSearchParams;
  signal: AbortSignal;
  session: Session;
  navigate(path: string, replaceEntry?: boolean): void;
  /** Sets the document's title. */
  title(text: string): void;
  /** The session ended while the page was open. */
  signedOut(): void;
}

/** Builds a page's content; the page keeps itself up to date until `signal` aborts. */
export type Page = (ctx: PageContext) => Promise<HTMLElement> | HTMLElement;

/** Whether this session may start, cancel and re-run runs. */
export function canWrite(session: Session): boolean {
  return session.scopes.includes('admin') || session.scopes.includes('runs:write');
}

/** Runs `fn` every `ms` until `signal` aborts (and once at once). */
export function every(ms: number, signal: AbortSignal, fn: () => Promise<void> | void): void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = async () => {
    if (signal.aborted) return;
    try {
      await fn();
    } catch {
      // The next tick tries again; a page shows its own errors.
    }
    if (!signal.aborted) timer = setTimeout(tick, ms);
  };
  signal.addEventListener('abort', () => clearTimeout(timer));
  timer = setTimeout(tick, ms);
}
