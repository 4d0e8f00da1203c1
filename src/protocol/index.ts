export * from './client.js';
export * from './feed-frames.js';
export * from './schemas.js';
export * from './wire.js';
