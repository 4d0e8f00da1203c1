import { validatePipeline } from '../../pipeline/index.js';
import { EXIT } from '../exit-codes.js';
import { readPipelineText } from '../pipeline-file.js';
import { templateReader } from './run.js';

/** `slipway validate FILE`: prints each error as `file:line:col: message`; exit 2 when any. */
export async function validateCommand(
  file: string,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const text = await readPipelineText(file);
  const errors = validatePipeline(text, file, { readFile: templateReader(process.cwd()) });
  for (const e of errors) err(`${e.message}\n`);
  if (errors.length > 0) return EXIT.invalid;
  out(`${file}: valid\n`);
  return EXIT.ok;
}
