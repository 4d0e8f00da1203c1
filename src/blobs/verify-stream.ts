import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { BlobCorruptError, type BlobInfo } from './blob-store.js';

/**
 * Passes the content through while hashing it and holds the latest chunk back, so a reader
 * never gets the whole of a corrupt blob: at the end it gets the last chunk or the error.
 */
export function verifier(info: BlobInfo): Transform {
  const hash = createHash('sha256');
  let size = 0;
  let held: Buffer | undefined;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      const previous = held;
      held = chunk;
      done(null, previous);
    },
    flush(done) {
      const sha256 = hash.digest('hex');
      if (size !== info.size || sha256 !== info.sha256) {
        return done(
          new BlobCorruptError(info.key, `its content has SHA-256 ${sha256}, ${info.sha256} was recorded`),
        );
      }
      if (held) this.push(held);
      done();
    },
  });
}
