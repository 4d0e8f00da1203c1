export * from './clock.js';
export * from './errors.js';
export * from './ids.js';
export * from './logger.js';
export * from './secret-masker.js';
export * from './version.js';
