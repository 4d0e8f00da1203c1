import type { z } from 'zod';
import type { createTokenRequest } from '../../protocol/index.js';
import type { Clock } from '../../shared/clock.js';
import { NotFoundError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { Store } from '../../store/index.js';
import type { Auth } from '../auth.js';

export type CreateTokenBody = z.output<typeof createTokenRequest>;

export interface TokenServiceOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  auth: Auth;
}

/** Personal access tokens: made by an admin, always expiring, revocable. */
export class TokenService {
  constructor(private readonly o: TokenServiceOptions) {}

  async create(body: CreateTokenBody): Promise<{ id: string; token: string; expiresAt: string }> {
    const issued = await this.o.auth.issue('pat', {
      name: body.name,
      scopes: body.scopes,
      ttlMs:
        body.expiresInSeconds !== undefined ? body.expiresInSeconds * 1000 : body.expiresInDays * 86_400_000,
    });
    this.o.logger.info({ tokenId: issued.id, scopes: body.scopes }, 'personal access token created');
    return { id: issued.id, token: issued.token, expiresAt: new Date(issued.expiresAt!).toISOString() };
  }

  /** Revokes the token with this id; `NotFoundError` when there is none to revoke. */
  async revoke(id: string): Promise<void> {
    const n = await this.o.store.revokeTokens({ id }, this.o.clock.now());
    if (n === 0) throw new NotFoundError('token', id);
  }
}
