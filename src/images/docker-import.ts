import type { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import { SlipwayError } from '../shared/errors.js';

/** The parts of an image config `docker import --change` can set. */
export interface ImageConfig {
  entrypoint?: string[];
  cmd?: string[];
  env: Record<string, string>;
  workdir?: string;
  user?: string;
  labels: Record<string, string>;
}

export class ImageImportError extends SlipwayError {
  constructor(
    readonly image: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`importing ${image} failed: ${detail}`, options);
  }
}

/** Dockerfile instructions for `changes`; values are JSON-quoted so spaces and quotes survive. */
export function dockerfileChanges(config: ImageConfig): string[] {
  const changes: string[] = [];
  if (config.entrypoint) changes.push(`ENTRYPOINT ${JSON.stringify(config.entrypoint)}`);
  if (config.cmd) changes.push(`CMD ${JSON.stringify(config.cmd)}`);
  for (const [key, value] of Object.entries(config.env)) changes.push(`ENV ${key}=${JSON.stringify(value)}`);
  if (config.workdir) changes.push(`WORKDIR ${config.workdir}`);
  if (config.user) changes.push(`USER ${config.user}`);
  const labels = Object.entries(config.labels).map(([key, value]) => `${key}=${JSON.stringify(value)}`);
  if (labels.length > 0) changes.push(`LABEL ${labels.join(' ')}`);
  return changes;
}

interface ProgressEvent {
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
}

/**
 * `docker import -` through the Engine API: streams a root filesystem tar and returns the new
 * image's id. A failing tar stream aborts the request, or the engine would wait for the rest.
 */
export async function importRootfs(
  docker: Dockerode,
  rootfs: Readable,
  target: { repo: string; tag: string; config: ImageConfig; message?: string },
): Promise<string> {
  const image = `${target.repo}:${target.tag}`;
  const abort = new AbortController();
  let streamError: unknown;
  rootfs.once('error', (error) => {
    streamError = error;
    abort.abort(error);
  });
  const fail = (detail: string, cause?: unknown): ImageImportError =>
    new ImageImportError(image, streamError ? String(streamError) : detail, { cause: streamError ?? cause });

  const response = await new Promise<NodeJS.ReadableStream>((resolve, reject) => {
    docker.modem.dial(
      {
        path: '/images/create?',
        method: 'POST',
        options: {
          fromSrc: '-',
          repo: target.repo,
          tag: target.tag,
          changes: dockerfileChanges(target.config),
          message: target.message ?? 'slipway offline image builder',
        },
        file: rootfs,
        abortSignal: abort.signal,
        isStream: true,
        statusCodes: { 200: true, 400: 'bad parameter', 500: 'server error' },
      },
      (error, result) =>
        error ? reject(fail(String(error), error)) : resolve(result as NodeJS.ReadableStream),
    );
  });

  const events = await new Promise<ProgressEvent[]>((resolve, reject) => {
    docker.modem.followProgress(response, (error: unknown, output: ProgressEvent[]) =>
      error ? reject(fail(String(error), error)) : resolve(output),
    );
  });
  if (streamError) throw fail('');
  const failed = events.find((e) => e.error || e.errorDetail);
  if (failed) throw fail(failed.errorDetail?.message ?? failed.error ?? 'unknown error');
  const id = events.map((e) => e.status ?? '').find((status) => /^sha256:[0-9a-f]{64}$/.test(status));
  if (!id) throw fail(`the engine answered without an image id: ${JSON.stringify(events)}`);
  return id;
}
