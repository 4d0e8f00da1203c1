import type { SlipwayServer } from '../server/server.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/**
 * Calls the API in-process (no network), as a test would with curl: `url` is relative to
 * `/api/v1/` unless it starts with `/`. A Buffer payload goes as raw bytes
 * (`application/octet-stream`), anything else as JSON. The body comes back parsed when it is JSON.
 */
export function apiCaller(server: () => SlipwayServer) {
  return async (method: Method, url: string, token?: string, payload?: unknown, ip?: string) => {
    const res = await server().app.inject({
      method,
      url: url.startsWith('/') ? url : `/api/v1/${url}`,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(Buffer.isBuffer(payload) ? { 'content-type': 'application/octet-stream' } : {}),
      },
      ...(payload === undefined ? {} : { payload: payload as object }),
      ...(ip ? { remoteAddress: ip } : {}),
    });
    const json = res.body.startsWith('{') || res.body.startsWith('[');
    // biome-ignore lint/suspicious/noExplicitAny: tests read response bodies field by field
    const body: any = json ? JSON.parse(res.body) : res.body || undefined;
    return { status: res.statusCode, body, raw: res.body };
  };
}
