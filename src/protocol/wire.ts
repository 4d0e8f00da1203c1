/** The agent's version, reported at session start; bumped with the protocol. */
export const AGENT_VERSION = '0.1.0';

/**
 * The capability a fleet agent reports for the image it runs in. A warm agent of the pool's
 * default image can take a container job for that same image (and no services), so the
 * common case starts at once instead of in a new container.
 */
export const IMAGE_CAPABILITY = 'Slipway.Image';
