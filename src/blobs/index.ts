export {
  BlobChecksumError,
  BlobCorruptError,
  BlobExistsError,
  type BlobInfo,
  type BlobStore,
  BlobTooLargeError,
  checkBlobKey,
  InvalidBlobKeyError,
  type PutBlobOptions,
} from './blob-store.js';
export { LocalDiskBlobStore, type LocalDiskBlobStoreOptions } from './local-disk-blob-store.js';
export { BLOBS_FLAG, checkBlobsUrl, openBlobStore } from './open-blob-store.js';
