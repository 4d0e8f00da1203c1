import { readFile } from 'node:fs/promises';
import { validatePipeline } from '../../pipeline/index.js';
import { CliError, EXIT } from '../exit-codes.js';
import { templateReader } from './run.js';

/** `slipway validate FILE`: prints each error as `file:line:col: message`; exit 2 when any. */
export async function validateCommand(
  file: string,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new CliError(
      `${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
      EXIT.invalid,
    );
  }
  const errors = validatePipeline(text, file, { readFile: templateReader(process.cwd()) });
  for (const e of errors) err(`${e.message}\n`);
  if (errors.length > 0) return EXIT.invalid;
  out(`${file}: valid\n`);
  return EXIT.ok;
}
