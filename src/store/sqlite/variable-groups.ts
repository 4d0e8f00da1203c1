import type { VariableGroupRow } from '../types.js';
import { type Db, json, sql } from './db.js';

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

/** Creates the group, or answers false when one of that name (any case) exists. */
export function insertVariableGroup(db: Db, g: VariableGroupRow): boolean {
  const res = sql(
    db,
    `INSERT INTO variable_groups (name, description, variables, secrets, secret_names, pools, repositories, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`,
  ).run(
    g.name,
    g.description,
    json.str(g.variables),
    g.secrets,
    json.str(g.secretNames),
    json.str(g.pools),
    json.str(g.repositories),
    g.createdAt,
    g.updatedAt,
  );
  return res.changes === 1;
}

/** Replaces the group's contents when it was last updated at `expectedUpdatedAt`; false otherwise. */
export function updateVariableGroup(db: Db, g: VariableGroupRow, expectedUpdatedAt: number): boolean {
  const res = sql(
    db,
    `UPDATE variable_groups SET description = ?, variables = ?, secrets = ?, secret_names = ?, pools = ?, repositories = ?, updated_at = ?
     WHERE name = ? AND updated_at = ?`,
  ).run(
    g.description,
    json.str(g.variables),
    g.secrets,
    json.str(g.secretNames),
    json.str(g.pools),
    json.str(g.repositories),
    g.updatedAt,
    g.name,
    expectedUpdatedAt,
  );
  return res.changes === 1;
}

export function getVariableGroup(db: Db, name: string): VariableGroupRow | undefined {
  const r = sql(db, 'SELECT * FROM variable_groups WHERE name = ?').get(name) as RawGroup | undefined;
  return r && toGroup(r);
}

export function listVariableGroups(db: Db): VariableGroupRow[] {
  return (sql(db, 'SELECT * FROM variable_groups ORDER BY name').all() as RawGroup[]).map(toGroup);
}

export function deleteVariableGroup(db: Db, name: string): boolean {
  return sql(db, 'DELETE FROM variable_groups WHERE name = ?').run(name).changes === 1;
}
