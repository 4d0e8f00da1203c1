export { Agent, type AgentOptions, type AgentState, describeUnreachable } from './agent.js';
export { type AgentConfig, agentConfig, agentConfigFromEnv } from './config.js';
export { AgentIdentity } from './identity.js';
export { runAgentProcess } from './run-agent.js';
