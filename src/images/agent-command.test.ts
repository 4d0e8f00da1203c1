import { describe, expect, it } from 'vitest';
import { AGENT_MOUNT, agentCommand, loaderName } from './agent-command.js';

describe('agentCommand', () => {
  it('runs the bundle through the bundled loader, with no LD_LIBRARY_PATH', () => {
    expect(agentCommand(['--once'], 'x64')).toEqual([
      '/slipway/lib/ld-linux-x86-64.so.2',
      '--library-path',
      '/slipway/lib',
      '/slipway/bin/node',
      '/slipway/agent/slipway-agent.mjs',
      '--once',
    ]);
    expect(AGENT_MOUNT).toBe('/slipway');
  });

  it('uses the loader of the architecture', () => {
    expect(agentCommand([], 'arm64')[0]).toBe('/slipway/lib/ld-linux-aarch64.so.1');
    expect(loaderName('x64')).toBe('ld-linux-x86-64.so.2');
    expect(() => loaderName('ia32')).toThrow('supports x64 and arm64, not ia32');
  });
});
