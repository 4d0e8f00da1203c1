import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A random, URL-safe identifier: 16 bytes are plenty to never collide. */
export function newId(prefix = ''): string {
  return prefix + randomBytes(16).toString('base64url');
}

/**
 * Tokens carry a recognisable prefix so secret scanners find them in leaked text,
 * and 32 random bytes so guessing is hopeless. Only their SHA-256 is stored.
 */
export type TokenKind = 'adm' | 'pat' | 'jit' | 'agt' | 'job' | 'stp';

export function newToken(kind: TokenKind): string {
  return `slw_${kind}_${randomBytes(32).toString('base64url')}`;
}

export function tokenKind(token: string): TokenKind | undefined {
  const m = /^slw_(adm|pat|jit|agt|job|stp)_[A-Za-z0-9_-]{43}$/.exec(token);
  return m ? (m[1] as TokenKind) : undefined;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
