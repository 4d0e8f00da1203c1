import { Agent, request } from 'node:http';
import { Readable } from 'node:stream';

/** Where `node:http` sends to: a host and port, or a Unix socket. */
export type HttpTarget = { host: string; port: number } | { socketPath: string };

/** One request as `ApiClient` sends it. */
export interface HttpSendInit {
  method: string;
  /** Path and query, from the origin's root. */
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer | Readable;
  signal: AbortSignal;
}

/** A whole answer, read as UTF-8 text. */
export interface PlainAnswer {
  status: number;
  statusText: string;
  text: string;
}

/**
 * Sends requests with `node:http` alone and reads each answer whole, for the calls that want
 * JSON back. A short-lived process (the CLI) does not pay for loading fetch's undici, a good part
 * of its start; connections are kept alive between calls, as fetch keeps them, and idle ones do
 * not hold the process open. Like fetch, an aborted request fails with the signal's reason.
 */
export function createHttpSend(target: HttpTarget) {
  const agent = new Agent({ keepAlive: true });
  // node:http writes the Host header of a TCP target itself (IPv6 in brackets); a socket has none.
  const host: Record<string, string> = 'socketPath' in target ? { host: 'localhost' } : {};
  return (init: HttpSendInit): Promise<PlainAnswer> =>
    new Promise<PlainAnswer>((resolve, reject) => {
      const { signal } = init;
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const req = request({
        ...target,
        agent,
        path: init.path,
        method: init.method,
        headers: { ...host, ...init.headers },
      });
      const onAbort = () => {
        req.destroy();
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const done = (answer: PlainAnswer) => {
        signal.removeEventListener('abort', onAbort);
        resolve(answer);
      };
      const fail = (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      };
      req.once('error', fail);
      req.once('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.once('error', fail);
        // A connection lost mid-answer: never a truncated body read as if whole.
        res.once('close', () => {
          if (!res.complete) fail(new Error('the connection closed before the answer was complete'));
        });
        res.once('end', () =>
          done({
            status: res.statusCode ?? 500,
            statusText: res.statusMessage ?? '',
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      });
      const { body } = init;
      if (body instanceof Readable) {
        body.once('error', (error) => req.destroy(error));
        body.pipe(req);
      } else req.end(body);
    });
}

export type HttpSend = ReturnType<typeof createHttpSend>;

/**
 * The ports fetch refuses to connect to (the Fetch standard's "bad ports"). A client on one of
 * them stays on fetch, whose streamed calls could not reach it anyway: it then fails at once and
 * says why, instead of working for some calls and not for others.
 */
export const FETCH_BAD_PORTS: ReadonlySet<number> = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104,
  109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515,
  526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049,
  3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);
