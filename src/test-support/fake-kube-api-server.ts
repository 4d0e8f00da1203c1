/**
 * A fake Kubernetes API server for tests: the real REST paths and JSON of pods, Secrets, pod logs
 * and watch streams in namespaces, with a pretend kubelet that moves pods through their phases.
 * No cluster can be reached where the tests run; this is what the Kubernetes driver talks to.
 * Created objects are checked against the Kubernetes schemas (kubernetes-models), as a real API
 * server refuses invalid ones (422).
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { V1ContainerStatus, V1Pod, V1Secret } from '@kubernetes/client-node';
import { Pod, Secret } from 'kubernetes-models/v1';

type Kind = 'pods' | 'secrets';
type Obj = V1Pod | V1Secret;

interface Event {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  kind: Kind;
  object: Obj;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body?: unknown;
}

export interface FakeKubeApiServerOptions {
  /** Bearer token every request must carry; default none needed. */
  token?: string;
  /** Images whose pull fails (the kubelet reports ErrImagePull); default none. */
  unpullable?: string[];
  /** Delay of the pretend kubelet's steps, in ms; default 5. */
  kubeletDelayMs?: number;
  /** Whether the pretend kubelet starts pods at all (false: they stay Pending); default true. */
  kubelet?: boolean;
  /**
   * Runs a started pod's agent container as a local process, given the pod and the ticket its
   * Secret holds; its exit is the container's. Default: the container just "runs" until `exit()`.
   */
  runAgent?: (pod: V1Pod, ticket: string) => ChildProcess;
}

export class FakeKubeApiServer {
  readonly requests: RecordedRequest[] = [];
  readonly #server: Server;
  readonly #o: FakeKubeApiServerOptions;
  readonly #objects = new Map<string, Obj>();
  #history: Event[] = [];
  #rv = 100;
  /** Events older than this resourceVersion are gone (a watch from before gets 410 Expired). */
  #compactedTo = 0;
  readonly #watches = new Set<{ kind: Kind; ns: string; selector: Selector; res: ServerResponse }>();
  readonly #logs = new Map<string, string>();
  readonly #processes = new Map<string, ChildProcess>();
  url = '';

  private constructor(o: FakeKubeApiServerOptions) {
    this.#o = o;
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((error) => {
        this.#status(res, 500, 'InternalError', String(error));
      });
    });
  }

  static async start(o: FakeKubeApiServerOptions = {}): Promise<FakeKubeApiServer> {
    const fake = new FakeKubeApiServer(o);
    await new Promise<void>((resolve) => fake.#server.listen(0, '127.0.0.1', resolve));
    fake.url = `http://127.0.0.1:${(fake.#server.address() as AddressInfo).port}`;
    return fake;
  }

  async stop(): Promise<void> {
    for (const p of this.#processes.values()) p.kill('SIGKILL');
    for (const w of this.#watches) w.res.end();
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  /** The stored objects of a kind in a namespace. */
  pods(ns: string): V1Pod[] {
    return this.#list('pods', ns) as V1Pod[];
  }
  secrets(ns: string): V1Secret[] {
    return this.#list('secrets', ns) as V1Secret[];
  }
  pod(ns: string, name: string): V1Pod | undefined {
    return this.#objects.get(key('pods', ns, name)) as V1Pod | undefined;
  }

  /** Open watch streams (pods and Secrets). */
  get watchCount(): number {
    return this.#watches.size;
  }

  /** Requests that read pods without watching: what a polling client would send. */
  podReads(): RecordedRequest[] {
    return this.requests.filter(
      (r) => r.method === 'GET' && /\/pods(\/[^/]+)?$/.test(r.path) && r.query.get('watch') !== 'true',
    );
  }

  /** What a container of the pod printed. */
  setLog(ns: string, name: string, text: string): void {
    this.#logs.set(key('pods', ns, name), text);
  }

  /** Puts an object in as someone else (another fleet, a crashed run) would have. */
  seed<T extends Obj>(kind: Kind, ns: string, object: T): T {
    return this.#create(kind, ns, structuredClone(object)) as T;
  }

  /** The pod's agent container ends (the job is over, or it crashed); the pod's phase follows. */
  exit(ns: string, name: string, o: { exitCode: number; reason?: string }): void {
    const pod = this.pod(ns, name);
    if (!pod) throw new Error(`no pod ${name}`);
    this.#terminate(pod, o.exitCode, o.reason ?? (o.exitCode === 0 ? 'Completed' : 'Error'));
  }

  /** Ends the open watch streams from the server's side (as its watch timeout does). */
  closeWatches(): void {
    for (const w of this.#watches) w.res.end();
    this.#watches.clear();
  }

  /** Forgets the event history, so a watch resumed from before gets 410 Expired. */
  compact(): void {
    this.#compactedTo = this.#rv;
    this.#history = [];
  }

  // ── the pretend kubelet ─────────────────────────────────────────────────────

  /** Starts the pod once every Secret it mounts exists; pulls fail for unpullable images. */
  #kubelet(ns: string, name: string): void {
    if (this.#o.kubelet === false) return;
    setTimeout(() => {
      const pod = this.pod(ns, name);
      if (pod?.status?.phase !== 'Pending' || pod.metadata?.deletionTimestamp) return;
      const missing = (pod.spec?.volumes ?? [])
        .map((v) => v.secret?.secretName)
        .filter((s): s is string => s !== undefined && !this.#objects.has(key('secrets', ns, s)));
      if (missing.length > 0) {
        this.#setStatus(pod, {
          conditions: [
            { type: 'PodScheduled', status: 'True' },
            {
              type: 'Ready',
              status: 'False',
              reason: 'ContainersNotReady',
              message: `secret ${missing[0]} not found`,
            },
          ],
        });
        return;
      }
      const spec = pod.spec!;
      const unpullable = new Set(this.#o.unpullable ?? []);
      const bad = [...(spec.initContainers ?? []), ...spec.containers].find((c) =>
        unpullable.has(c.image ?? ''),
      );
      const now = new Date().toISOString();
      if (bad) {
        const waiting = (c: { name: string; image?: string }): V1ContainerStatus => ({
          name: c.name,
          image: c.image ?? '',
          imageID: '',
          ready: false,
          restartCount: 0,
          state:
            c === bad
              ? {
                  waiting: {
                    reason: 'ErrImagePull',
                    message: `failed to pull image "${c.image}": not found`,
                  },
                }
              : { waiting: { reason: 'PodInitializing' } },
        });
        this.#setStatus(pod, {
          initContainerStatuses: (spec.initContainers ?? []).map(waiting),
          containerStatuses: spec.containers.map(waiting),
        });
        return;
      }
      const running = (c: { name: string; image?: string }, terminated = false): V1ContainerStatus => ({
        name: c.name,
        image: c.image ?? '',
        imageID: `sha256:${c.name}`,
        ready: !terminated,
        started: !terminated,
        restartCount: 0,
        state: terminated
          ? {
              terminated: {
                exitCode: 0,
                reason: 'Completed',
                startedAt: new Date(now),
                finishedAt: new Date(now),
              },
            }
          : { running: { startedAt: new Date(now) } },
      });
      this.#setStatus(pod, {
        phase: 'Running',
        podIP: '10.0.0.7',
        startTime: new Date(now),
        conditions: [
          { type: 'PodScheduled', status: 'True' },
          { type: 'Initialized', status: 'True' },
          { type: 'Ready', status: 'True' },
        ],
        // Init containers ran to the end; native sidecars (restartPolicy Always) keep running.
        initContainerStatuses: (spec.initContainers ?? []).map((c) =>
          running(c, c.restartPolicy !== 'Always'),
        ),
        containerStatuses: spec.containers.map((c) => running(c)),
      });
      if (this.#o.runAgent) this.#run(ns, pod);
    }, this.#o.kubeletDelayMs ?? 5);
  }

  #run(ns: string, pod: V1Pod): void {
    const secretName = pod.spec?.volumes?.find((v) => v.secret)?.secret?.secretName ?? '';
    const secret = this.#objects.get(key('secrets', ns, secretName)) as V1Secret | undefined;
    const ticket = Buffer.from(secret?.data?.ticket ?? '', 'base64')
      .toString('utf8')
      .trim();
    const child = this.#o.runAgent!(pod, ticket);
    const k = key('pods', ns, pod.metadata!.name!);
    this.#processes.set(k, child);
    let output = '';
    const collect = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      this.#logs.set(k, output);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    child.on('exit', (code, signal) => {
      this.#processes.delete(k);
      const exitCode = code ?? (signal === 'SIGKILL' ? 137 : 143);
      if (this.#objects.get(k) === pod)
        this.#terminate(pod, exitCode, exitCode === 0 ? 'Completed' : 'Error');
    });
  }

  #terminate(pod: V1Pod, exitCode: number, reason: string): void {
    const now = new Date();
    const end = (c: V1ContainerStatus): V1ContainerStatus =>
      c.state?.running
        ? { ...c, ready: false, started: false, state: { terminated: { exitCode, reason, finishedAt: now } } }
        : c;
    this.#setStatus(pod, {
      phase: exitCode === 0 ? 'Succeeded' : 'Failed',
      containerStatuses: (pod.status?.containerStatuses ?? []).map(end),
      initContainerStatuses: (pod.status?.initContainerStatuses ?? []).map((c) =>
        c.state?.running
          ? { ...c, state: { terminated: { exitCode: 0, reason: 'Completed', finishedAt: now } } }
          : c,
      ),
    });
  }

  #setStatus(pod: V1Pod, status: Partial<NonNullable<V1Pod['status']>>): void {
    pod.status = { ...pod.status, ...status };
    this.#touch('pods', pod, 'MODIFIED');
  }

  // ── storage and events ──────────────────────────────────────────────────────

  #list(kind: Kind, ns: string, selector: Selector = []): Obj[] {
    return [...this.#objects.entries()]
      .filter(([k, o]) => k.startsWith(`${kind}/${ns}/`) && matches(selector, o))
      .map(([, o]) => o);
  }

  #create(kind: Kind, ns: string, object: Obj): Obj {
    const name = object.metadata?.name ?? '';
    object.metadata = {
      ...object.metadata,
      name,
      namespace: ns,
      uid: randomUUID(),
      creationTimestamp: new Date(),
    };
    if (kind === 'pods') (object as V1Pod).status = { phase: 'Pending' };
    this.#objects.set(key(kind, ns, name), object);
    this.#touch(kind, object, 'ADDED');
    if (kind === 'pods') this.#kubelet(ns, name);
    else {
      // A Secret a pending pod waits for.
      for (const pod of this.pods(ns)) {
        if (pod.status?.phase === 'Pending') this.#kubelet(ns, pod.metadata!.name!);
      }
    }
    return object;
  }

  #delete(kind: Kind, ns: string, name: string): void {
    const object = this.#objects.get(key(kind, ns, name));
    if (!object) return;
    this.#objects.delete(key(kind, ns, name));
    this.#touch(kind, object, 'DELETED');
    // The garbage collector: what the deleted object owned goes too.
    const uid = object.metadata?.uid;
    for (const k of ['pods', 'secrets'] as const) {
      for (const o of this.#list(k, ns)) {
        if (o.metadata?.ownerReferences?.some((r) => r.uid === uid)) this.#delete(k, ns, o.metadata!.name!);
      }
    }
  }

  #touch(kind: Kind, object: Obj, type: Event['type']): void {
    this.#rv++;
    object.metadata = { ...object.metadata, resourceVersion: String(this.#rv) };
    const event: Event = { rv: this.#rv, type, kind, object: structuredClone(object) };
    this.#history.push(event);
    for (const w of this.#watches) {
      if (w.res.writableEnded) continue;
      if (w.kind === kind && w.ns === object.metadata?.namespace && matches(w.selector, object)) {
        w.res.write(`${JSON.stringify({ type, object: event.object })}\n`);
      }
    }
  }

  // ── HTTP ────────────────────────────────────────────────────────────────────

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const raw = await readBody(req);
    const body = raw ? JSON.parse(raw) : undefined;
    this.requests.push({ method: req.method ?? '', path: url.pathname, query: url.searchParams, body });
    if (this.#o.token && req.headers.authorization !== `Bearer ${this.#o.token}`) {
      return this.#status(res, 401, 'Unauthorized', 'Unauthorized');
    }
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/(pods|secrets)(?:\/([^/]+))?(\/log)?$/.exec(url.pathname);
    if (!m) return this.#status(res, 404, 'NotFound', `the server could not find the requested resource`);
    const ns = decodeURIComponent(m[1]!);
    const kind = m[2] as Kind;
    const name = m[3] === undefined ? undefined : decodeURIComponent(m[3]);
    const selector = parseSelector(url.searchParams.get('labelSelector') ?? '');

    if (m[4]) {
      if (kind !== 'pods' || !name || req.method !== 'GET')
        return this.#status(res, 405, 'MethodNotAllowed', '');
      if (!this.pod(ns, name)) return this.#notFound(res, kind, name);
      const lines = (this.#logs.get(key('pods', ns, name)) ?? '').split('\n');
      const tail = Number(url.searchParams.get('tailLines') ?? lines.length);
      res.writeHead(200, { 'content-type': 'text/plain' });
      return void res.end(lines.slice(-tail).join('\n'));
    }

    if (req.method === 'GET' && !name && url.searchParams.get('watch') === 'true') {
      return this.#watch(kind, ns, selector, url.searchParams.get('resourceVersion') ?? '', res);
    }
    if (req.method === 'GET' && !name) {
      const items = this.#list(kind, ns, selector);
      return this.#json(res, 200, {
        apiVersion: 'v1',
        kind: kind === 'pods' ? 'PodList' : 'SecretList',
        metadata: { resourceVersion: String(this.#rv) },
        items,
      });
    }
    if (req.method === 'GET' && name) {
      const object = this.#objects.get(key(kind, ns, name));
      return object ? this.#json(res, 200, object) : this.#notFound(res, kind, name);
    }
    if (req.method === 'POST' && !name) {
      const problem = invalid(kind, body);
      if (problem) return this.#status(res, 422, 'Invalid', problem);
      if (body.metadata?.namespace && body.metadata.namespace !== ns) {
        return this.#status(res, 400, 'BadRequest', 'the namespace of the object does not match the request');
      }
      if (this.#objects.has(key(kind, ns, body.metadata?.name ?? ''))) {
        return this.#status(res, 409, 'AlreadyExists', `${kind} "${body.metadata.name}" already exists`);
      }
      return this.#json(res, 201, this.#create(kind, ns, body));
    }
    if (req.method === 'DELETE' && name) {
      const object = this.#objects.get(key(kind, ns, name));
      if (!object) return this.#notFound(res, kind, name);
      const grace = Number(url.searchParams.get('gracePeriodSeconds') ?? body?.gracePeriodSeconds ?? 30);
      if (kind === 'pods' && grace > 0 && (object as V1Pod).status?.phase === 'Running') {
        // Graceful: SIGTERM now (the agent cancels its job and exits), SIGKILL after the grace
        // period, gone once it has ended.
        const pod = object as V1Pod;
        pod.metadata = { ...pod.metadata, deletionTimestamp: new Date(), deletionGracePeriodSeconds: grace };
        this.#touch('pods', pod, 'MODIFIED');
        const child = this.#processes.get(key('pods', ns, name));
        if (child) {
          const kill = setTimeout(() => child.kill('SIGKILL'), grace * 1000);
          child.once('exit', () => {
            clearTimeout(kill);
            setImmediate(() => this.#delete('pods', ns, name));
          });
          child.kill('SIGTERM');
        } else {
          setTimeout(() => {
            this.#terminate(pod, 0, 'Completed');
            this.#delete('pods', ns, name);
          }, this.#o.kubeletDelayMs ?? 5);
        }
        return this.#json(res, 200, pod);
      }
      this.#delete(kind, ns, name);
      return this.#json(res, 200, {
        apiVersion: 'v1',
        kind: 'Status',
        status: 'Success',
        details: { name, kind },
      });
    }
    return this.#status(res, 405, 'MethodNotAllowed', `${req.method} is not allowed here`);
  }

  #watch(kind: Kind, ns: string, selector: Selector, from: string, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    // A real API server answers a watch's headers at once, before any event: clients that wait
    // for them (@kubernetes/client-node's Watch) hang on a server that does not.
    res.flushHeaders();
    const since = Number(from || this.#rv);
    if (since < this.#compactedTo) {
      const status = {
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        reason: 'Expired',
        code: 410,
        message: `too old resource version: ${since}`,
      };
      res.end(`${JSON.stringify({ type: 'ERROR', object: status })}\n`);
      return;
    }
    for (const e of this.#history) {
      if (
        e.rv > since &&
        e.kind === kind &&
        e.object.metadata?.namespace === ns &&
        matches(selector, e.object)
      ) {
        res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
      }
    }
    const watch = { kind, ns, selector, res };
    this.#watches.add(watch);
    res.on('close', () => this.#watches.delete(watch));
  }

  #json(res: ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  #status(res: ServerResponse, code: number, reason: string, message: string): void {
    this.#json(res, code, { apiVersion: 'v1', kind: 'Status', status: 'Failure', reason, message, code });
  }

  #notFound(res: ServerResponse, kind: Kind, name: string): void {
    this.#status(res, 404, 'NotFound', `${kind} "${name}" not found`);
  }
}

type Selector = Array<[string, string]>;

function parseSelector(text: string): Selector {
  return text
    .split(',')
    .filter((p) => p !== '')
    .map((p) => {
      const eq = p.indexOf('=');
      return [p.slice(0, eq), p.slice(eq + 1)] as [string, string];
    });
}

function matches(selector: Selector, object: Obj): boolean {
  const labels = object.metadata?.labels ?? {};
  return selector.every(([k, v]) => labels[k] === v);
}

function key(kind: Kind, ns: string, name: string): string {
  return `${kind}/${ns}/${name}`;
}

/** What a real API server would refuse: the schema's verdict, and the name rules it adds. */
function invalid(kind: Kind, body: unknown): string | undefined {
  try {
    if (kind === 'pods') new Pod(body as never).validate();
    else new Secret(body as never).validate();
  } catch (error) {
    return (error as Error).message;
  }
  const name = (body as Obj).metadata?.name ?? '';
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(name)) return `metadata.name: Invalid value: "${name}"`;
  return undefined;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
