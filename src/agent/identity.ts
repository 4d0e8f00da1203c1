import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { newId } from '../shared/ids.js';

/**
 * The agent's Ed25519 key pair, made at start and kept in memory: the private half never
 * leaves this process, and a restarted agent simply registers again with `replace`.
 */
export class AgentIdentity {
  readonly publicKeyPem: string;
  private readonly privateKey: KeyObject;

  constructor() {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    this.publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    this.privateKey = privateKey;
  }

  /** A one-use assertion (fresh jti, 2-minute expiry) that proves the agent holds its key. */
  assertion(agentId: string): Promise<string> {
    return new SignJWT({})
      .setProtectedHeader({ alg: 'EdDSA' })
      .setSubject(agentId)
      .setIssuer(agentId)
      .setAudience('slipway')
      .setJti(newId())
      .setIssuedAt()
      .setExpirationTime('2m')
      .sign(this.privateKey);
  }
}
