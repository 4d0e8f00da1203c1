import { arch, cpus, hostname, platform } from 'node:os';

/** Environment variables never reported as capabilities: they may carry credentials. */
const IGNORED = /TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL|^AZP_|^SLIPWAY_|^npm_|^_$/i;

/**
 * What the agent offers to demands, as in Azure Pipelines: its environment (minus anything
 * that might be a credential, and the names listed in `VSO_AGENT_IGNORE`, comma-separated,
 * matched without regard to case as the Azure agent does), a few facts about the machine, and
 * the user's own.
 */
export function collectCapabilities(
  env: Record<string, string | undefined>,
  user: Record<string, string>,
  agent: { name: string; version: string },
): Record<string, string> {
  const listed = new Set(
    (env.VSO_AGENT_IGNORE ?? '')
      .split(',')
      .map((name) => name.trim().toLowerCase())
      .filter(Boolean),
  );
  const caps: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v !== undefined && !IGNORED.test(k) && !listed.has(k.toLowerCase())) caps[k] = v;
  }
  Object.assign(caps, {
    'Agent.Name': agent.name,
    'Agent.Version': agent.version,
    'Agent.OS': platform() === 'linux' ? 'Linux' : platform(),
    'Agent.OSArchitecture': arch() === 'arm64' ? 'ARM64' : arch() === 'x64' ? 'X64' : arch(),
    'Agent.ComputerName': hostname(),
    'Agent.CPUs': String(cpus().length),
    node: process.versions.node.split('.')[0]!,
  });
  return Object.assign(caps, user);
}
