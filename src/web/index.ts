export { WEB_ROOT, type WebAsset, WebAssets } from './assets.js';
export { CONTENT_SECURITY_POLICY, SECURITY_HEADERS } from './headers.js';
export {
  type CookieRequest,
  CSRF_HEADER,
  clearedSessionCookie,
  crossSiteRefusal,
  readSessionCookie,
  SESSION_COOKIE,
  SESSION_TTL_MS,
  sessionCookie,
} from './session.js';
