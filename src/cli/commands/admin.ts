import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  answeredStatus,
  createPoolRequest,
  createTokenRequest,
  type PoolView,
  type TokenScope,
  type UpdatePoolRequest,
} from '../../protocol/index.js';
import { NotFoundError } from '../../shared/errors.js';
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
  const created = await client.createToken(body, { token });
  out(`${created.token}\n`);
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
    allowRootlessBuilds?: boolean;
    defaultImage?: string;
    retryOnAgentLoss?: number;
    maxLog?: number;
    maxStepLog?: number;
    queueTimeout?: string;
  } & EngineFlags,
  out: Out,
) {
  const { client, token } = resolveClient(s);
  const body = createPoolRequest.parse({
    name,
    settings: {
      allowDockerSocket: o.allowDockerSocket ?? false,
      allowDind: o.allowDind ?? false,
      allowRootlessBuilds: o.allowRootlessBuilds ?? false,
      defaultImage: o.defaultImage,
      retryCountOnAgentLoss: o.retryOnAgentLoss,
      maxLogMiB: o.maxLog,
      maxStepLogMiB: o.maxStepLog,
      queueTimeoutSeconds:
        o.queueTimeout === undefined
          ? undefined
          : parseDuration('--queue-timeout', o.queueTimeout, {
              unit: 'm',
              minSeconds: 1,
              maxSeconds: 7 * 86_400,
            }),
      dockerEngine: engineSettings(o),
    },
  });
  await client.createPool(body, { token });
  out(`pool '${name}' created\n`);
  return EXIT.ok;
}

/** `slipway pool update NAME`: changes only what its flags say; fleets apply it to the next job. */
export async function poolUpdate(
  s: ClientSettings,
  name: string,
  o: {
    allowDockerSocket?: boolean;
    allowDind?: boolean;
    allowRootlessBuilds?: boolean;
    defaultImage?: string;
  } & EngineFlags,
  out: Out,
) {
  const { client, token } = resolveClient(s);
  const pool = (await client.listPools({ token })).find((p) => p.name === name);
  if (!pool)
    throw new CliError(
      `there is no pool '${name}' (create it with 'slipway pool create ${name}')`,
      EXIT.invalid,
    );
  const settings: UpdatePoolRequest['settings'] = {
    ...(o.allowDockerSocket === undefined ? {} : { allowDockerSocket: o.allowDockerSocket }),
    ...(o.allowDind === undefined ? {} : { allowDind: o.allowDind }),
    ...(o.allowRootlessBuilds === undefined ? {} : { allowRootlessBuilds: o.allowRootlessBuilds }),
    ...(o.defaultImage === undefined ? {} : { defaultImage: o.defaultImage }),
  };
  const engine = engineSettings(o, pool.settings.dockerEngine);
  if (engine) settings.dockerEngine = engine;
  if (Object.keys(settings).length === 0)
    throw new CliError(
      'nothing to change: give at least one flag (see slipway pool update --help)',
      EXIT.invalid,
    );
  const updated = await client.updatePool(name, { settings }, { token });
  const flags = [
    `dind ${updated.settings.allowDind ? 'allowed' : 'not allowed'}`,
    `rootless builds ${updated.settings.allowRootlessBuilds ? 'allowed' : 'not allowed'}`,
    `docker socket ${updated.settings.allowDockerSocket ? 'allowed (root on the host)' : 'not allowed'}`,
  ];
  out(`pool '${name}' updated: ${flags.join(', ')}\n`);
  return EXIT.ok;
}

export async function poolList(s: ClientSettings, out: Out) {
  const { client, token } = resolveClient(s);
  const pools = await client.listPools({ token });
  out(`${['POOL', 'ONLINE', 'BUSY', 'OFFLINE', 'QUEUED'].join('\t')}\n`);
  for (const p of pools)
    out(`${[p.name, p.agents.online, p.agents.busy, p.agents.offline, p.queued].join('\t')}\n`);
  return EXIT.ok;
}

export async function agentRemove(s: ClientSettings, o: { pool: string; name: string }, out: Out) {
  const { client, token } = resolveClient(s);
  await client.removeAgent(o.pool, o.name, { token });
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
  const { ticket } = await client.createTicket(o.pool, { name: o.name, ttlSeconds }, { token });
  out(`${ticket}\n`);
  return EXIT.ok;
}

export async function cancelRun(s: ClientSettings, run: string, out: Out) {
  const { client, token } = resolveClient(s);
  const view = await client.cancelRun(run, { token });
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
  const artifacts = await client.runArtifacts(run, { token });
  for (const a of artifacts) out(`${a.name}\t${a.size}\n`);
  return EXIT.ok;
}

export async function artifactDownload(s: ClientSettings, run: string, name: string, to: string, out: Out) {
  const { client, token } = resolveClient(s);
  const archive = await client.runArtifact(run, name, { token, timeoutMs: 600_000 }).catch((err: unknown) => {
    if (err instanceof NotFoundError)
      throw new CliError(`run ${run} has no artifact '${name}'`, EXIT.invalid);
    const status = answeredStatus(err);
    throw status === undefined ? err : new CliError(`download failed: ${status}`, EXIT.infrastructure);
  });
  const target = resolve(to);
  await mkdir(target, { recursive: true });
  const { files } = await extractWorkspace(archive, target);
  out(`artifact '${name}': ${files} files in ${target}\n`);
  return EXIT.ok;
}
