import { parseContainerOptions } from './container-options.js';
import { ExpressionError, parseExpression } from './expression-parser.js';
import type { Issues } from './issues.js';
import { isRuntimeExpression } from './read-variables.js';
import {
  checkKeys,
  entryOf,
  mismatch,
  readString,
  readStringList,
  readStringMap,
  valuePos,
} from './reader.js';
import type { ContainerRef, SourcePos } from './types.js';
import type { YEntry, YMap } from './yaml-tree.js';

/** A `container:` as written; a bare name may be the alias of a `resources.containers` item. */
export interface ContainerSpec {
  ref: ContainerRef;
  /** Written as a bare name, so it is looked up as a container resource alias first. */
  bare: boolean;
  pos: SourcePos;
}

export const CONTAINER_KEYS = {
  known: ['image', 'env', 'ports', 'options'],
  unsupported: ['endpoint', 'volumes', 'mapDockerSocket', 'mountReadOnly', 'localImage'],
};
/** `80`, `8080:80`, optionally with `/tcp` or `/udp`. */
const PORT = /^(?:(\d{1,5}):)?(\d{1,5})(?:\/(?:tcp|udp))?$/;
/** Services are reached by their name, so it must be a DNS label. */
const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** `container:` as an image name (or resource alias) or `{ image, env, ports }`. */
export function readContainer(
  issues: Issues,
  entry: YEntry,
  context = 'container',
): ContainerSpec | undefined {
  const { value } = entry;
  if (value.kind === 'scalar') {
    const image = readImage(issues, entry);
    return image === undefined
      ? undefined
      : { ref: { image, env: {}, ports: [] }, bare: true, pos: value.pos };
  }
  if (value.kind !== 'map')
    return mismatch(issues, entry, 'an image name or a mapping with image, env and ports');
  checkKeys(issues, value, { context, ...CONTAINER_KEYS });
  const ref = readContainerFields(issues, value, context);
  return ref && { ref, bare: false, pos: value.pos };
}

/** `image`, `env` and `ports` of a container mapping whose keys were checked by the caller. */
export function readContainerFields(issues: Issues, value: YMap, context: string): ContainerRef | undefined {
  const imageEntry = entryOf(value, 'image');
  const envEntry = entryOf(value, 'env');
  const portsEntry = entryOf(value, 'ports');
  const optionsEntry = entryOf(value, 'options');
  if (!imageEntry) issues.add(value.pos, `${context} needs an 'image'`);
  const image = imageEntry && readImage(issues, imageEntry);
  const env = envEntry ? readStringMap(issues, envEntry) : {};
  const ports = portsEntry ? readPorts(issues, portsEntry) : [];
  const options = optionsEntry ? readOptions(issues, optionsEntry) : undefined;
  if (image === undefined || env === undefined) return undefined;
  return { image, env, ports, ...(options ? { options } : {}) };
}

/** `options:` as `docker create` takes them: the safe ones kept, the rest refused where written. */
function readOptions(issues: Issues, entry: YEntry): ContainerRef['options'] {
  const text = readString(issues, entry);
  if (text === undefined) return undefined;
  const { options, problems } = parseContainerOptions(text);
  const base = valuePos(entry);
  const col = entry.value.kind === 'scalar' ? entry.value.valueCol : undefined;
  for (const p of problems)
    issues.add(col === undefined ? base : { ...base, col: col + p.offset }, `options: ${p.message}`);
  return Object.keys(options).length > 0 ? options : undefined;
}

function readImage(issues: Issues, entry: YEntry): string | undefined {
  const image = readString(issues, entry);
  if (image !== undefined && isRuntimeExpression(image)) return readImageExpression(issues, entry, image);
  if (image === undefined || !/\s/.test(image)) return image;
  return mismatch(issues, entry, 'an image name without spaces');
}

/** `$[ variables['img'] ]` (or `$[ variables.img ]`): kept as written, evaluated when the job is planned. */
function readImageExpression(issues: Issues, entry: YEntry, image: string): string | undefined {
  const source = imageExpressionSource(image);
  if (source === undefined) return mismatch(issues, entry, "an image name or '$[ expression ]'");
  try {
    parseExpression(source);
  } catch (error) {
    if (!(error instanceof ExpressionError)) throw error;
    issues.add(valuePos(entry), `invalid image expression: ${error.detail}`);
    return undefined;
  }
  if (/\b(stage)?dependencies\b/i.test(source)) {
    issues.add(
      valuePos(entry),
      "a container image from other jobs' outputs ('dependencies') is not supported yet by Slipway",
    );
    return undefined;
  }
  return image;
}

/** The expression inside `$[ ]`, or undefined when the text is not one whole runtime expression. */
export function imageExpressionSource(image: string): string | undefined {
  const match = /^\s*\$\[([\s\S]*)\]\s*$/.exec(image);
  return match?.[1]?.trim() || undefined;
}

function readPorts(issues: Issues, entry: YEntry): string[] {
  const ports: string[] = [];
  for (const { value, pos } of readStringList(issues, entry) ?? []) {
    const match = PORT.exec(value);
    const numbers = match ? [match[1], match[2]].filter((n) => n !== undefined).map(Number) : [];
    if (match && numbers.every((n) => n >= 1 && n <= 65535)) ports.push(value);
    else issues.add(pos, `invalid port '${value}': write 'containerPort' or 'hostPort:containerPort'`);
  }
  return ports;
}

/** `services:` maps the hostname a job reaches a service at to its container. */
export function readServices(issues: Issues, entry: YEntry): Record<string, ContainerSpec> {
  const { value } = entry;
  if (value.kind === 'null') return {};
  if (value.kind !== 'map') {
    mismatch(issues, entry, 'a mapping of service names to containers');
    return {};
  }
  const services: Array<[string, ContainerSpec]> = [];
  for (const service of value.entries) {
    if (!HOSTNAME.test(service.key)) {
      issues.add(
        service.keyPos,
        `service name '${service.key}' is not a valid hostname (letters, digits, '-')`,
      );
    }
    const container = readContainer(issues, service, `service '${service.key}'`);
    if (container) services.push([service.key, container]);
  }
  return Object.fromEntries(services);
}

/**
 * The container a job uses once its variables are known: `$(macros)` in the image and env are
 * expanded, and a bare name that is a container resource's alias becomes that resource.
 */
export function resolveContainer(
  spec: ContainerSpec,
  resources: Readonly<Record<string, ContainerRef>>,
  expand: (text: string) => string,
  /** Evaluates an image's `$[ ]` expression; default: leave it as written. */
  evaluate: (source: string, pos: SourcePos) => string = (source) => source,
): ContainerRef {
  const runtime = imageExpressionSource(spec.ref.image);
  const image = runtime === undefined ? expand(spec.ref.image) : evaluate(runtime, spec.pos);
  const resource = spec.bare && Object.hasOwn(resources, image) ? resources[image] : undefined;
  const ref = resource ?? { ...spec.ref, image };
  // `-e` comes after `env:` on Docker's command line, so it wins there: and so for the agent.
  const env = Object.fromEntries(
    Object.entries({ ...ref.env, ...ref.options?.env }).map(([k, v]) => [k, expand(v)]),
  );
  return {
    image: ref === resource || runtime === undefined ? expand(ref.image) : image,
    env,
    ports: ref.ports,
    ...(ref.options ? { options: expandOptions(ref.options, expand) } : {}),
  };
}

/** Macros in the options' text values; sizes and numbers were read as written. */
function expandOptions(
  o: NonNullable<ContainerRef['options']>,
  expand: (text: string) => string,
): NonNullable<ContainerRef['options']> {
  return {
    ...o,
    ...(o.hostname === undefined ? {} : { hostname: expand(o.hostname) }),
    ...(o.user === undefined ? {} : { user: expand(o.user) }),
    ...(o.env === undefined
      ? {}
      : { env: Object.fromEntries(Object.entries(o.env).map(([k, v]) => [k, expand(v)])) }),
  };
}
