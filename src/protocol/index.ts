export * from './schemas.js';
export * from './client.js';
