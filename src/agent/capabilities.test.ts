import { describe, expect, it } from 'vitest';
import { collectCapabilities } from './capabilities.js';

const agent = { name: 'a1', version: '1.0.0' };

describe('collectCapabilities', () => {
  it('reports the environment, minus credentials, plus machine facts and user capabilities', () => {
    const caps = collectCapabilities(
      { JAVA_HOME: '/opt/java', GITHUB_TOKEN: 'x', AZP_URL: 'http://s' },
      { gpu: 'yes' },
      agent,
    );
    expect(caps).toMatchObject({ JAVA_HOME: '/opt/java', gpu: 'yes', 'Agent.Name': 'a1' });
    expect(caps).not.toHaveProperty('GITHUB_TOKEN');
    expect(caps).not.toHaveProperty('AZP_URL');
  });

  it('leaves out the variables VSO_AGENT_IGNORE lists, whatever their case and spacing', () => {
    const caps = collectCapabilities(
      {
        VSO_AGENT_IGNORE: 'internal_host, BUILD_CACHE ,',
        INTERNAL_HOST: 'db.corp',
        BUILD_CACHE: '/c',
        KEEP: '1',
      },
      {},
      agent,
    );
    expect(caps).not.toHaveProperty('INTERNAL_HOST');
    expect(caps).not.toHaveProperty('BUILD_CACHE');
    expect(caps.KEEP).toBe('1');
  });

  it('still reports a user-defined capability of a listed name: the user asked for it', () => {
    const caps = collectCapabilities({ VSO_AGENT_IGNORE: 'docker', docker: '1' }, { docker: 'yes' }, agent);
    expect(caps.docker).toBe('yes');
  });
});
