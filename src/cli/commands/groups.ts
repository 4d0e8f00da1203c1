import type { VariableGroupView } from '../../protocol/index.js';
import { type ClientSettings, resolveClient } from '../client-config.js';
import { CliError, EXIT } from '../exit-codes.js';

type Out = (s: string) => void;

/** `--pools a,b` (or repeated): the pools whose jobs may read the group; `*` for all. */
function poolsOf(values: string[] | undefined): string[] | undefined {
  if (values === undefined) return undefined;
  return values
    .flatMap((v) => v.split(','))
    .map((p) => p.trim())
    .filter(Boolean);
}

/** `slipway group create NAME`: values and sealed secrets, readable by the pools named. */
export async function groupCreate(
  s: ClientSettings,
  name: string,
  o: {
    description?: string;
    pools?: string[];
    repositories?: string[];
    var: Record<string, string>;
    secret: Record<string, string>;
  },
  out: Out,
) {
  const { client, token } = resolveClient(s);
  const pools = poolsOf(o.pools) ?? [];
  const repositories = poolsOf(o.repositories) ?? [];
  const group = await client.createVariableGroup(
    { name, description: o.description ?? '', pools, repositories, variables: o.var, secrets: o.secret },
    { token },
  );
  out(`variable group '${group.name}' created: ${summary(group)}\n`);
  if (pools.length === 0 && repositories.length === 0) {
    out(
      `no pool or repository may read it yet: allow one with 'slipway group set "${group.name}" --pools default'\n`,
    );
  }
  return EXIT.ok;
}

/** `slipway group set NAME`: changes only what its flags say. */
export async function groupSet(
  s: ClientSettings,
  name: string,
  o: {
    description?: string;
    pools?: string[];
    repositories?: string[];
    var: Record<string, string>;
    secret: Record<string, string>;
    unset?: string[];
  },
  out: Out,
) {
  const pools = poolsOf(o.pools);
  const repositories = poolsOf(o.repositories);
  const nothing =
    o.description === undefined &&
    pools === undefined &&
    repositories === undefined &&
    Object.keys(o.var).length + Object.keys(o.secret).length + (o.unset?.length ?? 0) === 0;
  if (nothing) {
    throw new CliError(
      'nothing to change: give --var, --secret, --unset, --pools, --repositories or --description',
      EXIT.invalid,
    );
  }
  const { client, token } = resolveClient(s);
  const group = await client.updateVariableGroup(
    name,
    {
      ...(o.description === undefined ? {} : { description: o.description }),
      ...(pools === undefined ? {} : { pools }),
      ...(repositories === undefined ? {} : { repositories }),
      variables: o.var,
      secrets: o.secret,
      remove: o.unset ?? [],
    },
    { token },
  );
  out(`variable group '${group.name}' updated: ${summary(group)}\n`);
  return EXIT.ok;
}

/** `slipway group list`: values in the clear, secrets by name only. */
export async function groupList(s: ClientSettings, o: { json?: boolean }, out: Out) {
  const { client, token } = resolveClient(s);
  const groups = await client.listVariableGroups({ token });
  if (o.json) {
    out(`${JSON.stringify(groups, null, 2)}\n`);
    return EXIT.ok;
  }
  out(`${['GROUP', 'POOLS', 'REPOSITORIES', 'VARIABLES', 'SECRETS'].join('\t')}\n`);
  for (const g of groups) {
    const variables = Object.entries(g.variables).map(([k, v]) => `${k}=${v}`);
    out(
      `${[g.name, g.pools.join(',') || '-', g.repositories.join(',') || '-', variables.join(' ') || '-', g.secretNames.join(' ') || '-'].join('\t')}\n`,
    );
  }
  return EXIT.ok;
}

export async function groupDelete(s: ClientSettings, name: string, out: Out) {
  const { client, token } = resolveClient(s);
  await client.deleteVariableGroup(name, { token });
  out(`variable group '${name}' deleted\n`);
  return EXIT.ok;
}

function summary(g: VariableGroupView): string {
  const n = (count: number, what: string) => `${count} ${what}${count === 1 ? '' : 's'}`;
  const pools = g.pools.length > 0 ? `pools ${g.pools.join(', ')}` : 'no pool allowed';
  const repos = g.repositories.length > 0 ? `, repositories ${g.repositories.join(', ')}` : '';
  return `${n(Object.keys(g.variables).length, 'variable')}, ${n(g.secretNames.length, 'secret')}, ${pools}${repos}`;
}
