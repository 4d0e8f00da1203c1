import type { Issues } from './issues.js';
import { CONTAINER_KEYS, readContainerFields } from './read-container.js';
import { checkKeys, entryOf, expectMap, mismatch, notSupported, readString } from './reader.js';
import type { ContainerRef, RepositoryResource } from './types.js';
import type { YEntry, YMap } from './yaml-tree.js';

export interface Resources {
  repositories: RepositoryResource[];
  containers: Record<string, ContainerRef>;
}

const RESOURCE_KEYS = {
  context: 'resources',
  known: ['repositories', 'containers'],
  unsupported: ['pipelines', 'builds', 'packages', 'webhooks'],
};
const REPOSITORY_KEYS = {
  context: 'repository resource',
  known: ['repository', 'type', 'name', 'ref', 'endpoint', 'trigger'],
};
const CONTAINER_RESOURCE_KEYS = {
  context: 'container resource',
  known: ['container', 'trigger', ...CONTAINER_KEYS.known],
  unsupported: ['type', 'azureSubscription', 'resourceGroup', 'registry', ...CONTAINER_KEYS.unsupported],
};
/** The old `resources: [{ repo: self }]` form, which only ever named this repository. */
const LEGACY_KEYS = { context: 'resources item', known: ['repo', 'clean', 'fetchDepth', 'lfs'] };
const ALIAS = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** `resources:` → repositories (recorded) and containers by alias. */
export function readResources(issues: Issues, entry: YEntry): Resources {
  const resources: Resources = { repositories: [], containers: {} };
  const { value } = entry;
  if (value.kind === 'null') return resources;
  if (value.kind === 'seq') {
    for (const item of value.items) readLegacyItem(issues, item.kind === 'map' ? item : undefined, item.pos);
    return resources;
  }
  if (value.kind !== 'map') {
    mismatch(issues, entry, 'a mapping with repositories and containers');
    return resources;
  }
  checkKeys(issues, value, RESOURCE_KEYS);
  const repositories = entryOf(value, 'repositories');
  const containers = entryOf(value, 'containers');
  if (repositories) resources.repositories = readList(issues, repositories, (m) => readRepository(issues, m));
  if (containers) {
    const seen = new Set<string>();
    for (const [alias, container] of readList(issues, containers, (m) => readContainerResource(issues, m))) {
      if (seen.has(alias)) continue;
      seen.add(alias);
      resources.containers[alias] = container;
    }
  }
  return resources;
}

function readList<T>(issues: Issues, entry: YEntry, read: (map: YMap) => T | undefined): T[] {
  if (entry.value.kind === 'null') return [];
  if (entry.value.kind !== 'seq') {
    mismatch(issues, entry, 'a list');
    return [];
  }
  const found: T[] = [];
  for (const item of entry.value.items) {
    const map = expectMap(issues, item, `a ${entry.key} item`);
    const read_ = map && read(map);
    if (read_ !== undefined) found.push(read_);
  }
  return found;
}

function readRepository(issues: Issues, map: YMap): RepositoryResource | undefined {
  checkKeys(issues, map, REPOSITORY_KEYS);
  const field = (key: string) => {
    const e = entryOf(map, key);
    return e && readString(issues, e);
  };
  const repository = field('repository');
  if (!entryOf(map, 'repository')) issues.add(map.pos, "a repository resource needs 'repository: <alias>'");
  const type = field('type') ?? 'git';
  const name = field('name');
  if (repository === undefined) return undefined;
  // `name` is optional in Azure's schema; `repository: self` never has one.
  const resource: RepositoryResource = { repository, type };
  if (name !== undefined) resource.name = name;
  const ref = field('ref');
  const endpoint = field('endpoint');
  if (ref !== undefined) resource.ref = ref;
  if (endpoint !== undefined) resource.endpoint = endpoint;
  return resource;
}

function readContainerResource(issues: Issues, map: YMap): [string, ContainerRef] | undefined {
  checkKeys(issues, map, CONTAINER_RESOURCE_KEYS);
  const aliasEntry = entryOf(map, 'container');
  if (!aliasEntry) {
    issues.add(map.pos, "a container resource needs 'container: <alias>'");
    return undefined;
  }
  const alias = readString(issues, aliasEntry);
  if (alias !== undefined && !ALIAS.test(alias)) {
    issues.add(aliasEntry.value.pos, `invalid container alias '${alias}': use letters, digits, '_' and '-'`);
    return undefined;
  }
  const ref = readContainerFields(issues, map, `container resource '${alias ?? ''}'`);
  return alias === undefined || ref === undefined ? undefined : [alias, ref];
}

function readLegacyItem(issues: Issues, map: YMap | undefined, pos: YMap['pos']): void {
  if (map === undefined) {
    issues.add(pos, "'resources' must be a mapping with repositories and containers");
    return;
  }
  checkKeys(issues, map, LEGACY_KEYS);
  const repo = entryOf(map, 'repo');
  if (repo?.value.kind === 'scalar' && repo.value.value !== 'self')
    issues.add(repo.value.pos, notSupported(`repo: ${repo.value.value}`));
}
