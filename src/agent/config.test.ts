import { describe, expect, it } from 'vitest';
import { agentConfig, agentConfigFromEnv, checkServerUrl } from './config.js';

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
