import { decodeJwt, importSPKI, jwtVerify } from 'jose';
import type { TokenScope } from '../protocol/index.js';
import type { Clock } from '../shared/clock.js';
import { AuthError, ForbiddenError, RateLimitError } from '../shared/errors.js';
import { hashToken, newId, newToken, type TokenKind, tokenKind } from '../shared/ids.js';
import type { Logger } from '../shared/logger.js';
import type { NewToken, Store, TokenRow } from '../store/index.js';

export const ACCESS_TOKEN_TTL_MS = 60 * 60 * 1000;
export const ASSERTION_MAX_AGE_S = 300;

export interface AuthOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
}

/** Issues and checks every credential; nothing else in the server touches token hashes. */
export class Auth {
  constructor(private readonly o: AuthOptions) {}

  /** Resolves a bearer token to its row, refusing unknown, expired, revoked and used ones. */
  async authenticate(header: string | undefined, kinds: TokenKind[]): Promise<TokenRow> {
    const token = /^Bearer (\S+)$/.exec(header ?? '')?.[1];
    if (!token) throw new AuthError('missing bearer token');
    const kind = tokenKind(token);
    if (!kind) throw new AuthError('malformed token');
    if (!kinds.includes(kind)) throw new AuthError(`a ${describe(kind)} cannot be used here`);
    const row = await this.o.store.findToken(hashToken(token));
    if (!row) throw new AuthError('unknown token');
    if (row.revokedAt !== null) throw new AuthError('token revoked');
    if (row.expiresAt !== null && row.expiresAt <= this.o.clock.now()) throw new AuthError('token expired');
    if (row.kind === 'jit' && row.usedAt !== null) throw new AuthError('registration ticket used already');
    return row;
  }

  requireScope(row: TokenRow, scope: TokenScope): void {
    if (row.kind === 'adm' || row.scopes.includes('admin') || row.scopes.includes(scope)) return;
    throw new ForbiddenError(`this token lacks the scope '${scope}'`);
  }

  async issue(
    kind: TokenKind,
    fields: Partial<Omit<TokenRow, 'id' | 'kind' | 'createdAt'>> & { ttlMs: number | null },
  ): Promise<{ id: string; token: string; expiresAt: number | null }> {
    const minted = this.mint(kind, fields);
    await this.o.store.insertToken(minted.row, this.o.clock.now());
    return minted;
  }

  /**
   * A new token and the row that stores it (hashed), not stored yet: for a caller that writes it
   * in one transaction with other changes (a claim and its attempt's tokens).
   */
  mint(
    kind: TokenKind,
    fields: Partial<Omit<TokenRow, 'id' | 'kind' | 'createdAt'>> & { ttlMs: number | null },
  ): { id: string; token: string; expiresAt: number | null; row: NewToken } {
    const token = newToken(kind);
    const id = newId(`${kind}_`);
    const expiresAt = fields.ttlMs === null ? null : this.o.clock.now() + fields.ttlMs;
    const row: NewToken = {
      id,
      kind,
      hash: hashToken(token),
      name: fields.name ?? kind,
      scopes: fields.scopes ?? [],
      pool: fields.pool ?? null,
      agentName: fields.agentName ?? null,
      agentId: fields.agentId ?? null,
      jobId: fields.jobId ?? null,
      epoch: fields.epoch ?? null,
      expiresAt,
    };
    return { id, token, expiresAt, row };
  }

  /**
   * A browser session for a person who signed in with `row` (the admin token or a PAT): a PAT
   * of its own with the same powers, living at most `ttlMs` and never longer than `row`, so
   * the token typed in is not kept by the browser and signing out revokes only the session.
   */
  async startSession(
    row: TokenRow,
    ttlMs: number,
  ): Promise<{ id: string; token: string; expiresAt: number }> {
    const left = row.expiresAt === null ? ttlMs : row.expiresAt - this.o.clock.now();
    const scopes: TokenScope[] = row.kind === 'adm' ? ['admin'] : row.scopes;
    const issued = await this.issue('pat', { name: 'web session', scopes, ttlMs: Math.min(ttlMs, left) });
    return { id: issued.id, token: issued.token, expiresAt: issued.expiresAt! };
  }

  /**
   * Trades an assertion signed with the agent's own key for a short-lived access token. The
   * assertion is single-use (its jti is remembered until it expires) and at most 5 minutes old.
   */
  async exchangeAssertion(assertion: string): Promise<{ token: string; expiresAt: number; agentId: string }> {
    let agentId: string | undefined;
    try {
      agentId = decodeJwt(assertion).sub;
    } catch {
      throw new AuthError('malformed assertion');
    }
    const agent = agentId ? await this.o.store.getAgent(agentId) : undefined;
    if (!agent) throw new AuthError('unknown or removed agent');
    const key = await importSPKI(agent.publicKey, 'EdDSA');
    let payload: Awaited<ReturnType<typeof jwtVerify>>['payload'];
    try {
      ({ payload } = await jwtVerify(assertion, key, {
        audience: 'slipway',
        subject: agent.id,
        maxTokenAge: ASSERTION_MAX_AGE_S,
        // Agents' clocks drift; half a minute either way is tolerated, replay is stopped by jti.
        clockTolerance: 30,
        currentDate: new Date(this.o.clock.now()),
      }));
    } catch (err) {
      throw new AuthError(`assertion refused: ${(err as Error).message}`);
    }
    if (!payload.jti || !payload.exp) throw new AuthError('assertion needs jti and exp');
    const fresh = await this.o.store.recordAssertion(payload.jti, payload.exp * 1000, this.o.clock.now());
    if (!fresh) throw new AuthError('assertion replayed');
    return { ...(await this.issueAccessToken(agent)), agentId: agent.id };
  }

  /** A short-lived access token for a registered agent (after a verified assertion, or its ticket's start). */
  async issueAccessToken(agent: { id: string; name: string }): Promise<{ token: string; expiresAt: number }> {
    const issued = await this.issue('agt', {
      agentId: agent.id,
      name: agent.name,
      ttlMs: ACCESS_TOKEN_TTL_MS,
    });
    return { token: issued.token, expiresAt: issued.expiresAt! };
  }
}

function describe(kind: TokenKind): string {
  const names: Record<TokenKind, string> = {
    adm: 'admin token',
    pat: 'personal access token',
    jit: 'registration ticket',
    agt: 'agent access token',
    job: 'job lease token',
    stp: 'step token',
  };
  return names[kind];
}

export interface FailureLimiterOptions {
  /** Failures of one presented credential (per route kind) before it is answered from memory. Default 5. */
  perCredential?: number;
  /** Failures of one client (address; every Unix-socket caller is one client) before its failures are answered 429 and no longer logged one by one. Default 30. */
  perClient?: number;
  /** Window the counts cover. Default 60 s. */
  windowMs?: number;
  /** Most keys remembered; the oldest are forgotten first, so a flood of distinct tokens costs bounded memory. Default 10,000. */
  maxKeys?: number;
}

/**
 * Counts failed authentications per presented credential and per client. It never refuses a
 * valid credential: a client that floods bad tokens (a job over the fleet's Unix socket, which
 * every agent shares) gets 429 for its *bad* tokens only, while agents, leases and the fleet on
 * the same address keep working. A bad token presented again and again is refused from memory,
 * without a store lookup. Guessing is not what this stops (tokens carry 256 random bits); it
 * keeps a flood cheap and the log readable. In memory: each replica limits on its own.
 */
export class FailureLimiter {
  private readonly credentials = new Map<string, number[]>();
  private readonly clients = new Map<string, number[]>();
  private readonly perCredential: number;
  private readonly perClient: number;
  private readonly windowMs: number;
  private readonly maxKeys: number;

  constructor(
    private readonly clock: Clock,
    o: FailureLimiterOptions = {},
  ) {
    this.perCredential = o.perCredential ?? 5;
    this.perClient = o.perClient ?? 30;
    this.windowMs = o.windowMs ?? 60_000;
    this.maxKeys = o.maxKeys ?? 10_000;
  }

  /** This exact credential failed often enough lately that it fails again: skip the lookup. */
  knownBad(credential: string): boolean {
    return this.recent(this.credentials, credential).length >= this.perCredential;
  }

  /** The client's failures are past its limit: answer them 429 and log them in summary only. */
  clientOverLimit(client: string): boolean {
    return this.recent(this.clients, client).length >= this.perClient;
  }

  /** Records a failure; answers whether it was the one that put the client over its limit. */
  fail(client: string, credential?: string): boolean {
    if (credential !== undefined) this.add(this.credentials, credential);
    return this.add(this.clients, client) === this.perClient;
  }

  private add(map: Map<string, number[]>, key: string): number {
    const list = this.recent(map, key);
    list.push(this.clock.now());
    map.delete(key);
    map.set(key, list);
    while (map.size > this.maxKeys) map.delete(map.keys().next().value!);
    return list.length;
  }

  private recent(map: Map<string, number[]>, key: string): number[] {
    const since = this.clock.now() - this.windowMs;
    const list = (map.get(key) ?? []).filter((t) => t > since);
    if (list.length === 0) map.delete(key);
    else map.set(key, list);
    return list;
  }
}

/** Who failed to authenticate, for the limiter and the log. */
export interface AuthCaller {
  /** The source address, or one shared key for every caller on the Unix socket. */
  client: string;
  /** The route pattern, for the log. */
  route?: string;
  /** The presented credential's key (route kinds and hash), when one was presented. */
  credential?: string;
}

/**
 * Counts a failed authentication and throws: the error itself, or a `RateLimitError` once the
 * client is past its limit (logged in summary then, so a flood cannot fill the log).
 */
export function refuseAuth(
  deps: { limiter: FailureLimiter; logger: Logger },
  caller: AuthCaller,
  err: AuthError,
): never {
  const { client, credential } = caller;
  const wasOver = deps.limiter.clientOverLimit(client);
  const crossed = deps.limiter.fail(client, credential);
  if (!wasOver) {
    deps.logger.warn({ source: client, route: caller.route, reason: err.reason }, 'authentication failed');
  }
  if (crossed) {
    deps.logger.warn(
      { source: client },
      'too many failed authentications from this client: its failures are answered 429 and not logged one by one; valid credentials still work',
    );
  }
  if (wasOver) throw new RateLimitError('too many failed authentications; try again later');
  throw err;
}
