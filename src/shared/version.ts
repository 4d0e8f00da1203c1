/** Slipway's version: what `slipway --version` prints and agents report at session start. */
export const SLIPWAY_VERSION = '0.1.0';
