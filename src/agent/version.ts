/** The agent's version, reported at session start; bumped with the protocol. */
export const AGENT_VERSION = '0.1.0';
