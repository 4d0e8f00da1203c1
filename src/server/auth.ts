import { decodeJwt, importSPKI, jwtVerify } from 'jose';
import type { TokenScope } from '../protocol/schemas.js';
import type { Clock } from '../shared/clock.js';
import { AuthError, ForbiddenError } from '../shared/errors.js';
import { hashToken, newId, newToken, type TokenKind, tokenKind } from '../shared/ids.js';
import type { Logger } from '../shared/logger.js';
import type { Store, TokenRow } from '../store/types.js';

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
    const token = newToken(kind);
    const now = this.o.clock.now();
    const id = newId(`${kind}_`);
    const expiresAt = fields.ttlMs === null ? null : now + fields.ttlMs;
    await this.o.store.insertToken(
      {
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
      },
      now,
    );
    return { id, token, expiresAt };
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
    const issued = await this.issue('agt', {
      agentId: agent.id,
      name: agent.name,
      ttlMs: ACCESS_TOKEN_TTL_MS,
    });
    return { token: issued.token, expiresAt: issued.expiresAt!, agentId: agent.id };
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

/**
 * Counts failed authentications per source and refuses a source that fails too often, so
 * tokens cannot be guessed at line speed. In memory: each replica limits on its own.
 */
export class FailureLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly clock: Clock,
    private readonly max = 30,
    private readonly windowMs = 60_000,
  ) {}

  blocked(source: string): boolean {
    return this.recent(source).length >= this.max;
  }

  fail(source: string): void {
    const list = this.recent(source);
    list.push(this.clock.now());
    this.failures.set(source, list);
  }

  private recent(source: string): number[] {
    const since = this.clock.now() - this.windowMs;
    const list = (this.failures.get(source) ?? []).filter((t) => t > since);
    if (list.length === 0) this.failures.delete(source);
    return list;
  }
}
