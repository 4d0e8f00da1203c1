import { readFile } from 'node:fs/promises';
import { CliError, EXIT } from './exit-codes.js';

/**
 * A pipeline file's text. Bytes that are not UTF-8 are an error at their line and column,
 * not silently replaced characters that would later fail somewhere else.
 */
export async function readPipelineText(file: string, shown = file): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(
      `${shown}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
      EXIT.invalid,
    );
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    // The lossy decoding marks the first bad byte with U+FFFD: its line and column (in characters).
    const lossy = new TextDecoder('utf-8').decode(bytes);
    const at = lossy.indexOf('\uFFFD');
    const before = lossy.slice(0, at);
    const line = before.split('\n').length;
    const col = at - (before.lastIndexOf('\n') + 1) + 1;
    throw new CliError(`${shown}:${line}:${col}: the file is not valid UTF-8 text`, EXIT.invalid);
  }
}
