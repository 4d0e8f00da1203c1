import type { VariableGroupRow } from '../types.js';
import { changes, type Db, json, one, rows } from './db.js';

interface RawGroup {
  name: string;
  description: string;
  variables: string;
  secrets: string | null;
  secret_names: string;
  pools: string;
  repositories: string;
  created_at: number;
  updated_at: number;
}

function toGroup(r: RawGroup): VariableGroupRow {
  return {
    name: r.name,
    description: r.description,
    variables: json.parse(r.variables),
    secrets: r.secrets,
    secretNames: json.parse(r.secret_names),
    pools: json.parse(r.pools),
    repositories: json.parse(r.repositories),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

// Names match whatever their case, through the unique index on lower(name).

/** Creates the group, or answers false when one of that name (any case) exists. */
export async function insertVariableGroup(db: Db, g: VariableGroupRow): Promise<boolean> {
  return (
    (await changes(
      db,
      `INSERT INTO variable_groups (name, description, variables, secrets, secret_names, pools, repositories, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
      [
        g.name,
        g.description,
        json.str(g.variables),
        g.secrets,
        json.str(g.secretNames),
        json.str(g.pools),
        json.str(g.repositories),
        g.createdAt,
        g.updatedAt,
      ],
    )) === 1
  );
}

/** Replaces the group's contents when it was last updated at `expectedUpdatedAt`; false otherwise. */
export async function updateVariableGroup(
  db: Db,
  g: VariableGroupRow,
  expectedUpdatedAt: number,
): Promise<boolean> {
  return (
    (await changes(
      db,
      `UPDATE variable_groups SET description = $1, variables = $2, secrets = $3, secret_names = $4, pools = $5,
         repositories = $6, updated_at = $7 WHERE lower(name) = lower($8) AND updated_at = $9`,
      [
        g.description,
        json.str(g.variables),
        g.secrets,
        json.str(g.secretNames),
        json.str(g.pools),
        json.str(g.repositories),
        g.updatedAt,
        g.name,
        expectedUpdatedAt,
      ],
    )) === 1
  );
}

export async function getVariableGroup(db: Db, name: string): Promise<VariableGroupRow | undefined> {
  const r = await one<RawGroup>(db, 'SELECT * FROM variable_groups WHERE lower(name) = lower($1)', [name]);
  return r && toGroup(r);
}

export async function listVariableGroups(db: Db): Promise<VariableGroupRow[]> {
  return (
    await rows<RawGroup>(
      db,
      'SELECT * FROM variable_groups ORDER BY lower(name) COLLATE "C", name COLLATE "C"',
    )
  ).map(toGroup);
}

export async function deleteVariableGroup(db: Db, name: string): Promise<boolean> {
  return (await changes(db, 'DELETE FROM variable_groups WHERE lower(name) = lower($1)', [name])) === 1;
}
