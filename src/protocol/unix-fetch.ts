import { Agent, request } from 'node:http';
import { Readable } from 'node:stream';

/** What `ApiClient.fetch` sends: the subset of `fetch`'s init it uses. */
export interface UnixFetchInit {
  method: string;
  headers: Record<string, string>;
  body?: string | Buffer | Readable;
  signal: AbortSignal;
}

/** Statuses whose answer has no body (a `Response` refuses one). */
const NO_BODY = new Set([101, 204, 205, 304]);

/**
 * `fetch` over a Unix socket with `node:http` alone. Fleet agents reach the coordinator only this
 * way, and undici, the other way to give fetch a socket, is most of the agent bundle and a good
 * part of its start. Connections are kept alive between calls, as fetch does.
 */
export function createUnixFetch(socketPath: string) {
  const agent = new Agent({ keepAlive: true });
  return (url: string, init: UnixFetchInit): Promise<Response> =>
    new Promise<Response>((resolve, reject) => {
      const { pathname, search } = new URL(url);
      const req = request({
        socketPath,
        agent,
        path: `${pathname}${search}`,
        method: init.method,
        headers: { host: 'localhost', ...init.headers },
        signal: init.signal,
      });
      req.once('error', reject);
      req.once('response', (res) => {
        const headers = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (Array.isArray(value)) for (const v of value) headers.append(name, v);
          else if (value !== undefined) headers.set(name, value);
        }
        const status = res.statusCode ?? 500;
        if (NO_BODY.has(status)) res.resume();
        const body = NO_BODY.has(status) ? null : (Readable.toWeb(res) as unknown as ReadableStream);
        resolve(new Response(body, { status, statusText: res.statusMessage ?? '', headers }));
      });
      const { body } = init;
      if (body instanceof Readable) {
        body.once('error', (error) => req.destroy(error));
        body.pipe(req);
      } else req.end(body);
    });
}

export type UnixFetch = ReturnType<typeof createUnixFetch>;
