import { describe, expect, it } from 'vitest';
import {
  agentConfig,
  agentConfigFromEnv,
  checkServerUrl,
  forbiddenCredentials,
  isCredentialVariable,
} from './config.js';

describe('checkServerUrl', () => {
  it.each([
    ['http://127.0.0.1:8420', undefined],
    ['https://ci.example.com/', undefined],
    ['unix:///run/slipway/agent.sock', undefined],
    ['', 'the server URL is missing: set it with --url or the AZP_URL'],
    ['localhost:8420', "'localhost:8420' (from --url or AZP_URL) has no scheme: write http://localhost:8420"],
    ['ci.example.com', "'ci.example.com' (from --url or AZP_URL) has no scheme"],
    ['ftp://ci.example.com', "'ftp://ci.example.com' has the scheme ftp://; use http://, https://"],
    ['unix://', "'unix://' needs a socket path"],
    ['http://exa mple.com', "'http://exa mple.com' is not a valid URL"],
  ])('%j', (url, problem) => {
    const found = checkServerUrl(url);
    if (problem === undefined) expect(found).toBeUndefined();
    else expect(found).toContain(problem);
  });

  it('reaches the config: a missing URL names the flag and the variables, not "Invalid URL"', () => {
    const parsed = agentConfig.safeParse(agentConfigFromEnv({ AZP_TOKEN: 'x' }, {}));
    expect(parsed.success).toBe(false);
    const messages = parsed.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(messages).toEqual([expect.stringContaining('url: the server URL is missing: set it with --url')]);
  });

  it('reads the retry bound for one-job agents from SLIPWAY_AGENT_RETRY_FOR', () => {
    const c = agentConfig.parse(
      agentConfigFromEnv({ AZP_TOKEN: 'x', AZP_URL: 'http://s', SLIPWAY_AGENT_RETRY_FOR: '5' }, {}),
    );
    expect(c.retryForSeconds).toBe(5);
    expect(
      agentConfig.parse(agentConfigFromEnv({ AZP_TOKEN: 'x', AZP_URL: 'http://s' }, {})).retryForSeconds,
    ).toBe(180);
  });
});

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
