import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuthError, NotFoundError } from '../../shared/errors.js';
import { type ServiceWorld, serviceWorld } from '../../test-support/services.js';

let w: ServiceWorld;
beforeEach(async () => {
  w = await serviceWorld();
});
afterEach(() => w.stop());

describe('TokenService', () => {
  it('makes a token that expires after its days, or its seconds when given', async () => {
    const days = await w.tokens.create({ name: 'ci', scopes: ['runs:write'], expiresInDays: 2 });
    expect(Date.parse(days.expiresAt)).toBe(w.clock.now() + 2 * 86_400_000);
    expect(await w.credential(days.token)).toMatchObject({
      id: days.id,
      kind: 'pat',
      scopes: ['runs:write'],
    });

    const secs = await w.tokens.create({
      name: 'ci',
      scopes: ['runs:read'],
      expiresInDays: 30,
      expiresInSeconds: 90,
    });
    expect(Date.parse(secs.expiresAt)).toBe(w.clock.now() + 90_000);
    w.clock.advance(90_000);
    await expect(w.credential(secs.token)).rejects.toThrow('token expired');
  });

  it('revokes a token, and says so when there is none with that id', async () => {
    const { id, token } = await w.tokens.create({ name: 'ci', scopes: ['runs:write'], expiresInDays: 1 });
    await w.tokens.revoke(id);
    await expect(w.credential(token)).rejects.toThrow(new AuthError('token revoked'));
    await expect(w.tokens.revoke('pat_nope')).rejects.toThrow(new NotFoundError('token', 'pat_nope'));
  });
});
