import type { Issues } from './issues.js';
import { checkKeys, entryOf, mismatch, readString, readStringList, readStringMap } from './reader.js';
import type { ContainerRef } from './types.js';
import type { YEntry } from './yaml-tree.js';

const CONTAINER_KEYS = {
  known: ['image', 'env', 'ports'],
  unsupported: ['options', 'endpoint', 'volumes', 'mapDockerSocket', 'mountReadOnly', 'localImage'],
};
/** `80`, `8080:80`, optionally with `/tcp` or `/udp`. */
const PORT = /^(?:(\d{1,5}):)?(\d{1,5})(?:\/(?:tcp|udp))?$/;
/** Services are reached by their name, so it must be a DNS label. */
const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** `container:` as an image name or `{ image, env, ports }`. */
export function readContainer(
  issues: Issues,
  entry: YEntry,
  context = 'container',
): ContainerRef | undefined {
  const { value } = entry;
  if (value.kind === 'scalar') {
    const image = readImage(issues, entry);
    return image === undefined ? undefined : { image, env: {}, ports: [] };
  }
  if (value.kind !== 'map')
    return mismatch(issues, entry, 'an image name or a mapping with image, env and ports');
  checkKeys(issues, value, { context, ...CONTAINER_KEYS });
  const imageEntry = entryOf(value, 'image');
  const envEntry = entryOf(value, 'env');
  const portsEntry = entryOf(value, 'ports');
  if (!imageEntry) issues.add(value.pos, `${context} needs an 'image'`);
  const image = imageEntry && readImage(issues, imageEntry);
  const env = envEntry ? readStringMap(issues, envEntry) : {};
  const ports = portsEntry ? readPorts(issues, portsEntry) : [];
  if (image === undefined || env === undefined) return undefined;
  return { image, env, ports };
}

function readImage(issues: Issues, entry: YEntry): string | undefined {
  const image = readString(issues, entry);
  if (image === undefined || !/\s/.test(image)) return image;
  return mismatch(issues, entry, 'an image name without spaces');
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
export function readServices(issues: Issues, entry: YEntry): Record<string, ContainerRef> {
  const { value } = entry;
  if (value.kind === 'null') return {};
  if (value.kind !== 'map') {
    mismatch(issues, entry, 'a mapping of service names to containers');
    return {};
  }
  const services: Array<[string, ContainerRef]> = [];
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
