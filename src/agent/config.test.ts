import { describe, expect, it } from 'vitest';
import { forbiddenCredentials, isCredentialVariable } from './config.js';

const token = (kind: string) => `slw_${kind}_${'A'.repeat(43)}`;

describe('isCredentialVariable', () => {
  it.each([
    ['AZP_TOKEN', 'x'],
    ['AZP_TOKEN_FILE', '/t'],
    ['AZP_TOKEN_X', 'x'],
    ['SLIPWAY_TOKEN', 'x'],
    ['SLIPWAY_AGENT_TOKEN', 'x'],
    ['SLIPWAY_REGISTRY_TOKEN', 'x'],
    ['SLIPWAY_TICKET_FILE', '/t'],
    ['SLIPWAY_DEPLOY_KEY', 'x'],
    ['SLIPWAY_ADMIN_TOKEN', 'x'],
    ['MY_ADMIN_TOKEN', 'x'],
    ['ANYTHING', token('pat')],
    ['NOTES', `prefix ${token('adm')} suffix`],
  ])('strips %s', (name, value) => expect(isCredentialVariable(name, value)).toBe(true));

  it.each([
    ['PATH', '/usr/bin'],
    ['AZP_URL', 'http://x'],
    ['AZP_POOL', 'default'],
    ['SLIPWAY_LOG_LEVEL', 'info'],
    ['HOME', '/root'],
    ['GREETING', 'slw_pat_short'],
  ])('keeps %s', (name, value) => expect(isCredentialVariable(name, value)).toBe(false));
});

describe('forbiddenCredentials', () => {
  it('names the CLI token and any variable holding the admin token', () => {
    const problems = forbiddenCredentials({
      SLIPWAY_TOKEN: token('pat'),
      AZP_TOKEN: token('adm'),
      OTHER: `x${token('adm')}`,
      SLIPWAY_ADMIN_TOKEN: 'something',
      AZP_URL: 'http://x',
    });
    expect(problems).toHaveLength(4);
    expect(problems[0]).toMatch(/^SLIPWAY_TOKEN is the CLI's credential.*env -u SLIPWAY_TOKEN/);
    expect(problems[1]).toMatch(/^AZP_TOKEN holds the admin token/);
    expect(problems[2]).toMatch(/^OTHER holds the admin token/);
    expect(problems[3]).toMatch(/^SLIPWAY_ADMIN_TOKEN is the CLI's credential/);
  });

  it('lets an agent start with a PAT in AZP_TOKEN', () => {
    expect(forbiddenCredentials({ AZP_TOKEN: token('pat'), SLIPWAY_TOKEN: '' })).toEqual([]);
  });
});
