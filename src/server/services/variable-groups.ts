import type { z } from 'zod';
import type {
  createVariableGroupRequest,
  updateVariableGroupRequest,
  VariableGroupView,
} from '../../protocol/index.js';
import type { Clock } from '../../shared/clock.js';
import { ConflictError, NotFoundError, ValidationError } from '../../shared/errors.js';
import type { JobRow, Store, VariableGroupRow } from '../../store/index.js';
import type { SecretVault } from '../secret-vault.js';

export type CreateVariableGroupBody = z.output<typeof createVariableGroupRequest>;
export type UpdateVariableGroupBody = z.output<typeof updateVariableGroupRequest>;

export interface VariableGroupServiceOptions {
  store: Store;
  clock: Clock;
  vault: SecretVault;
}

/** What the groups a job references give it: values beneath its own, and its sealed secrets. */
export interface ResolvedGroups {
  variables: Record<string, string>;
  secrets: Record<string, string>;
}

/**
 * Variable groups: values and secrets kept on the coordinator (`slipway group`), which jobs
 * reference with `- group: NAME`. Secrets are sealed at rest and shown by name only; a group is
 * readable only by jobs of the pools it names or by runs of the repositories it names, and
 * never gives its secrets to an untrusted run.
 */
export class VariableGroupService {
  constructor(private readonly o: VariableGroupServiceOptions) {}

  async create(body: CreateVariableGroupBody): Promise<VariableGroupView> {
    const now = this.o.clock.now();
    const row: VariableGroupRow = {
      name: body.name,
      description: body.description,
      variables: withoutNames(body.variables, Object.keys(body.secrets)),
      ...this.sealed(body.secrets),
      pools: unique(body.pools),
      repositories: unique(body.repositories),
      createdAt: now,
      updatedAt: now,
    };
    if (!(await this.o.store.insertVariableGroup(row))) {
      throw new ConflictError(
        `variable group '${body.name}' exists already (change it with 'slipway group set')`,
      );
    }
    return view(row);
  }

  /** Changes a group; retried when another writer changed it meanwhile, so no write is lost. */
  async update(name: string, body: UpdateVariableGroupBody): Promise<VariableGroupView> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.require(name);
      const secrets = { ...this.open(current), ...body.secrets };
      const variables = { ...current.variables, ...body.variables };
      for (const gone of body.remove) {
        delete secrets[gone];
        delete variables[gone];
      }
      // A name is a value or a secret, never both: the newest says which.
      for (const k of Object.keys(body.secrets)) delete variables[k];
      for (const k of Object.keys(body.variables)) delete secrets[k];
      const next: VariableGroupRow = {
        ...current,
        description: body.description ?? current.description,
        pools: body.pools ? unique(body.pools) : current.pools,
        repositories: body.repositories ? unique(body.repositories) : current.repositories,
        variables,
        ...this.sealed(secrets),
        updatedAt: Math.max(this.o.clock.now(), current.updatedAt + 1),
      };
      if (await this.o.store.updateVariableGroup(next, current.updatedAt)) return view(next);
      if (attempt >= 5) throw new ConflictError(`variable group '${name}' keeps changing; try again`);
    }
  }

  async get(name: string): Promise<VariableGroupView> {
    return view(await this.require(name));
  }

  async list(): Promise<VariableGroupView[]> {
    return (await this.o.store.listVariableGroups()).map(view);
  }

  async delete(name: string): Promise<void> {
    if (!(await this.o.store.deleteVariableGroup(name))) throw new NotFoundError('variable group', name);
  }

  /**
   * The values and secrets the job's groups give it, in the order the pipeline lists them (a
   * later group wins). Refuses a group that does not exist or allows neither the job's pool nor
   * its run's repository, naming the command that would allow it. `repository` is the mirrored
   * repository the coordinator itself started the run from, never what a client says of its
   * folder. An untrusted run gets the values, never the secrets.
   */
  async resolve(file: string, job: JobRow, untrusted: boolean, repository?: string): Promise<ResolvedGroups> {
    const out: ResolvedGroups = { variables: {}, secrets: {} };
    for (const name of job.plan.variableGroups ?? []) {
      const group = await this.o.store.getVariableGroup(name);
      if (!group) {
        throw new ValidationError(
          `${file}: job '${job.name}' uses variable group '${name}', which does not exist (create it with 'slipway group create "${name}" --pool ${job.pool}')`,
        );
      }
      const byPool = group.pools.some((p) => p === '*' || p.toLowerCase() === job.pool.toLowerCase());
      const byRepository =
        repository !== undefined &&
        group.repositories.some((r) => r.toLowerCase() === repository.toLowerCase());
      if (!byPool && !byRepository) {
        const allowRepo = repository
          ? ` or 'slipway group set "${group.name}" --repositories ${[...group.repositories, repository].join(',')}'`
          : '';
        throw new ValidationError(
          `${file}: job '${job.name}' runs in pool '${job.pool}'${repository ? ` of repository '${repository}'` : ''}, which variable group '${group.name}' does not allow (allow it with 'slipway group set "${group.name}" --pools ${[...group.pools, job.pool].join(',')}'${allowRepo})`,
        );
      }
      Object.assign(out.variables, group.variables);
      if (!untrusted) Object.assign(out.secrets, this.open(group));
    }
    return out;
  }

  private async require(name: string): Promise<VariableGroupRow> {
    const group = await this.o.store.getVariableGroup(name);
    if (!group) throw new NotFoundError('variable group', name);
    return group;
  }

  private sealed(secrets: Record<string, string>): Pick<VariableGroupRow, 'secrets' | 'secretNames'> {
    const names = Object.keys(secrets).sort();
    return { secrets: names.length > 0 ? this.o.vault.seal(secrets) : null, secretNames: names };
  }

  private open(group: VariableGroupRow): Record<string, string> {
    return group.secrets ? this.o.vault.open(group.secrets) : {};
  }
}

function view(g: VariableGroupRow): VariableGroupView {
  return {
    name: g.name,
    description: g.description,
    pools: g.pools,
    repositories: g.repositories,
    variables: g.variables,
    secretNames: g.secretNames,
    createdAt: new Date(g.createdAt).toISOString(),
    updatedAt: new Date(g.updatedAt).toISOString(),
  };
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

function withoutNames(values: Record<string, string>, names: string[]): Record<string, string> {
  const out = { ...values };
  for (const n of names) delete out[n];
  return out;
}
