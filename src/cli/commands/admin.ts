import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  createPoolRequest,
  createTokenRequest,
  type PoolView,
  poolView,
  runView,
  type TokenScope,
  type UpdatePoolRequest,
  updatePoolRequest,
} from '../../protocol/schemas.js';
import { extractWorkspace } from '../../shared/workspace-archive.js';
import { type ClientSettings, resolveClient } from '../client-config.js';
import { parseDuration } from '../duration.js';
import { CliError, EXIT } from '../exit-codes.js';

type Out = (s: string) => void;

/** `slipway token create`: prints only the token on stdout, so `$(slipway token create …)` works. */
export async function tokenCreate(
  s: ClientSettings,
  o: { scope: string[]; expires: string; name?: string },
  out: Out,
) {
  const { client, token } = resolveClient(s);
  const body = createTokenRequest.parse({
    name: o.name ?? 'cli',
    scopes: o.scope as TokenScope[],
    expiresInSeconds: parseDuration('--expires', o.expires, {
      unit: 'd',
      minSeconds: 1,
      maxSeconds: MAX_TOKEN_SECONDS,
    }),
  });
  const res = await client.request<{ token: string }>('tokens', { token, body });
  out(`${res.body.token}\n`);
  return EXIT.ok;
}

/** The server's limits, checked here so that a user reads the flag's name, not a wire field's. */
const MAX_TOKEN_SECONDS = 366 * 86_400;
const TICKET_SECONDS = { min: 10, max: 3600 };

/** Flags of the engine a `docker: dind` job gets (`pool create` and `pool update`). */
interface EngineFlags {
  registryMirror?: string[];
  insecureRegistry?: string[];
  networkMtu?: number;
  storageDriver?: string;
}

function engineSettings(o: EngineFlags, current: PoolView['settings']['dockerEngine'] = {}) {
  if (
    o.networkMtu !== undefined &&
    !(Number.isInteger(o.networkMtu) && o.networkMtu >= 576 && o.networkMtu <= 65_535)
  )
    throw new CliError('--network-mtu must be a whole number from 576 to 65535', EXIT.invalid);
  const given = {
    ...(o.registryMirror ? { registryMirrors: o.registryMirror } : {}),
    ...(o.insecureRegistry ? { insecureRegistries: o.insecureRegistry } : {}),
    ...(o.networkMtu === undefined ? {} : { mtu: o.networkMtu }),
    ...(o.storageDriver === undefined ? {} : { storageDriver: o.storageDriver }),
  };
  return Object.keys(given).length === 0 ? undefined : { ...current, ...given };
}

export async function poolCreate(
  s: ClientSettings,
  name: string,
  o: {
    allowDockerSocket?: boolean;
    allowDind?: boolean;
    defaultImage?: string;
    retryOnAgentLoss?: number;
    maxLog?: number;
    maxStepLog?: number;
  } & EngineFlags,
  out: Out,
) {
  const { client, token } = resolveClient(s);
  const body = createPoolRequest.parse({
    name,
    settings: {
      allowDockerSocket: o.allowDockerSocket ?? false,
      allowDind: o.allowDind ?? false,
      defaultImage: o.defaultImage,
      retryCountOnAgentLoss: o.retryOnAgentLoss,
      maxLogMiB: o.maxLog,
      maxStepLogMiB: o.maxStepLog,
      dockerEngine: engineSettings(o),
    },
  });
  await client.request('pools', { token, body });
  out(`pool '${name}' created\n`);
  return EXIT.ok;
}

/** `slipway pool update NAME`: changes only what its flags say; fleets apply it to the next job. */
export async function poolUpdate(
  s: ClientSettings,
  name: string,
  o: { allowDockerSocket?: boolean; allowDind?: boolean; defaultImage?: string } & EngineFlags,
  out: Out,
) {
  const { client, token } = resolveClient(s);
  const pools = poolView.array().parse((await client.request('pools', { token })).body);
  const pool = pools.find((p) => p.name === name);
  if (!pool)
    throw new CliError(
      `there is no pool '${name}' (create it with 'slipway pool create ${name}')`,
      EXIT.invalid,
    );
  const settings: UpdatePoolRequest['settings'] = {
    ...(o.allowDockerSocket === undefined ? {} : { allowDockerSocket: o.allowDockerSocket }),
    ...(o.allowDind === undefined ? {} : { allowDind: o.allowDind }),
    ...(o.defaultImage === undefined ? {} : { defaultImage: o.defaultImage }),
  };
  const engine = engineSettings(o, pool.settings.dockerEngine);
  if (engine) settings.dockerEngine = engine;
  if (Object.keys(settings).length === 0)
    throw new CliError(
      'nothing to change: give at least one flag (see slipway pool update --help)',
      EXIT.invalid,
    );
  const body = updatePoolRequest.parse({ settings });
  const updated = poolView.parse(
    (await client.request(`pools/${encodeURIComponent(name)}`, { method: 'PATCH', token, body })).body,
  );
  const flags = [
    `dind ${updated.settings.allowDind ? 'allowed' : 'not allowed'}`,
    `docker socket ${updated.settings.allowDockerSocket ? 'allowed (root on the host)' : 'not allowed'}`,
  ];
  out(`pool '${name}' updated: ${flags.join(', ')}\n`);
  return EXIT.ok;
}

export async function poolList(s: ClientSettings, out: Out) {
  const { client, token } = resolveClient(s);
  const pools = poolView.array().parse((await client.request('pools', { token })).body);
  out(`${['POOL', 'ONLINE', 'BUSY', 'OFFLINE', 'QUEUED'].join('\t')}\n`);
  for (const p of pools)
    out(`${[p.name, p.agents.online, p.agents.busy, p.agents.offline, p.queued].join('\t')}\n`);
  return EXIT.ok;
}

export async function agentRemove(s: ClientSettings, o: { pool: string; name: string }, out: Out) {
  const { client, token } = resolveClient(s);
  await client.request(`pools/${encodeURIComponent(o.pool)}/agents/${encodeURIComponent(o.name)}`, {
    method: 'DELETE',
    token,
  });
  out(`agent '${o.name}' removed from pool '${o.pool}'\n`);
  return EXIT.ok;
}

/** A one-use registration ticket for one agent name: prints only the ticket. */
export async function agentTicket(
  s: ClientSettings,
  o: { pool: string; name: string; expires: string },
  out: Out,
) {
  const { client, token } = resolveClient(s);
  const ttlSeconds = parseDuration('--expires', o.expires, {
    unit: 'm',
    minSeconds: TICKET_SECONDS.min,
    maxSeconds: TICKET_SECONDS.max,
  });
  const res = await client.request<{ ticket: string }>(`pools/${encodeURIComponent(o.pool)}/tickets`, {
    token,
    body: { name: o.name, ttlSeconds },
  });
  out(`${res.body.ticket}\n`);
  return EXIT.ok;
}

export async function cancelRun(s: ClientSettings, run: string, out: Out) {
  const { client, token } = resolveClient(s);
  const view = runView.parse(
    (await client.request(`runs/${encodeURIComponent(run)}/cancel`, { method: 'POST', token })).body,
  );
  // Canceling a run that is over changes nothing: say so rather than "cancel requested".
  out(
    view.status === 'completed'
      ? `run #${view.number} already finished (${view.result}); nothing to cancel\n`
      : `run #${view.number}: cancel requested\n`,
  );
  return EXIT.ok;
}

/** `slipway artifact list RUN` and `slipway artifact download RUN NAME --to DIR`. */
export async function artifactList(s: ClientSettings, run: string, out: Out) {
  const { client, token } = resolveClient(s);
  const { body } = await client.request<{ name: string; size: number }[]>(
    `runs/${encodeURIComponent(run)}/artifacts`,
    {
      token,
    },
  );
  for (const a of body) out(`${a.name}\t${a.size}\n`);
  return EXIT.ok;
}

export async function artifactDownload(s: ClientSettings, run: string, name: string, to: string, out: Out) {
  const { client, token } = resolveClient(s);
  const res = await client.fetch(`runs/${encodeURIComponent(run)}/artifacts/${encodeURIComponent(name)}`, {
    token,
    timeoutMs: 600_000,
  });
  if (res.status === 404) throw new CliError(`run ${run} has no artifact '${name}'`, EXIT.invalid);
  if (!res.ok) throw new CliError(`download failed: ${res.status}`, EXIT.infrastructure);
  const target = resolve(to);
  await mkdir(target, { recursive: true });
  const { files } = await extractWorkspace(Buffer.from(await res.arrayBuffer()), target);
  out(`artifact '${name}': ${files} files in ${target}\n`);
  return EXIT.ok;
}
