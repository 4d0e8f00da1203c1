/**
 * The browser's credential: the token a person signs in with is exchanged for a session token
 * of its own, kept in an HttpOnly, SameSite=Strict cookie, so page script never holds a token
 * and signing out revokes exactly that session. Pure functions; the server wires them in.
 */

/** The cookie's name. */
export const SESSION_COOKIE = 'slipway_session';
/** Longest a browser session lives (it never outlives the token it was made from). Default 12 h. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
/**
 * A header the UI sends with every state-changing request. A cross-site form cannot set it, and
 * a cross-site script could only with a CORS preflight, which the server never grants.
 */
export const CSRF_HEADER = 'x-slipway-request';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The session token from a `Cookie` header; undefined when there is none. */
export function readSessionCookie(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    const value = part.slice(eq + 1).trim();
    // Tokens are URL-safe text; anything else is not one of ours.
    return /^[A-Za-z0-9_.-]{1,200}$/.test(value) ? value : undefined;
  }
  return undefined;
}

/** `Set-Cookie` for a new session (`secure` when the page came over HTTPS). */
export function sessionCookie(token: string, maxAgeMs: number, secure: boolean): string {
  const maxAge = Math.max(0, Math.floor(maxAgeMs / 1000));
  return `${SESSION_COOKIE}=${token}; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

/** `Set-Cookie` that removes the session cookie. */
export function clearedSessionCookie(secure: boolean): string {
  return sessionCookie('', 0, secure);
}

export interface CookieRequest {
  method: string;
  /** The `Host` header. */
  host: string | undefined;
  origin: string | undefined;
  /** `Sec-Fetch-Site`, sent by every current browser. */
  fetchSite: string | undefined;
  /** Whether the request carries `CSRF_HEADER`. */
  marked: boolean;
}

/**
 * Why a request authenticated by the cookie may not change anything, or undefined when it may:
 * a state change must come from the UI's own origin and carry the UI's header.
 */
export function crossSiteRefusal(req: CookieRequest): string | undefined {
  if (SAFE_METHODS.has(req.method.toUpperCase())) return undefined;
  if (!req.marked) return `a request signed in by cookie must carry the ${CSRF_HEADER} header`;
  if (req.fetchSite !== undefined && req.fetchSite !== 'same-origin') {
    return `a request signed in by cookie must come from this site (Sec-Fetch-Site: ${req.fetchSite})`;
  }
  if (!req.origin || !req.host) return 'a request signed in by cookie must carry its Origin';
  let host: string;
  try {
    host = new URL(req.origin).host;
  } catch {
    return 'a request signed in by cookie must carry a valid Origin';
  }
  if (host !== req.host) return `a request signed in by cookie must come from this site, not ${req.origin}`;
  return undefined;
}
