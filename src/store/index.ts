export {
  checkStoreUrl,
  DATABASE_FLAG,
  defaultStoreUrl,
  type OpenStoreOptions,
  openStore,
} from './open-store.js';
export { SqliteStore } from './sqlite/sqlite-store.js';
export * from './types.js';
