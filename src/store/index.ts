export { SqliteStore } from './sqlite/sqlite-store.js';
export * from './types.js';
