import { SLIPWAY_VERSION } from '../shared/version.js';

/** The agent's version, reported at session start; bumped with the protocol. */
export const AGENT_VERSION = SLIPWAY_VERSION;

/**
 * The capability a fleet agent reports for the image it runs in. A warm agent of the pool's
 * default image can take a container job for that same image (and no services), so the
 * common case starts at once instead of in a new container.
 */
export const IMAGE_CAPABILITY = 'Slipway.Image';

/**
 * The CA bundle a fleet gives a job's steps (`NODE_EXTRA_CA_CERTS` there), handed to the agent
 * under this name: Node parses that bundle at every start (about 50 ms of CPU), and the agent
 * itself talks to its coordinator over a Unix socket, so it would pay for nothing.
 */
export const JOB_CA_CERTS_VARIABLE = 'SLIPWAY_JOB_NODE_EXTRA_CA_CERTS';
