import { checkPipeline } from '../../pipeline/index.js';
import { EXIT } from '../exit-codes.js';
import { findPipeline } from '../pipeline-file.js';
import { withTaskCatalog } from '../task-catalog.js';

/** `slipway validate FILE`: prints each error as `file:line:col: message`; exit 2 when any. */
export async function validateCommand(
  file: string,
  out: (s: string) => void,
  err: (s: string) => void,
  allowUnsupportedTasks = false,
): Promise<number> {
  const pipeline = await findPipeline({ given: file });
  const { errors, notes } = await withTaskCatalog((tasks) =>
    checkPipeline(pipeline.text, pipeline.name, {
      readFile: pipeline.readTemplate,
      tasks,
      allowUnsupportedTasks,
    }),
  );
  for (const n of notes) err(`${pipeline.shown(n.file)}:${n.line}:${n.col}: note: ${n.detail}\n`);
  for (const e of errors) err(`${pipeline.shown(e.file)}:${e.line}:${e.col}: ${e.detail}\n`);
  if (errors.length > 0) return EXIT.invalid;
  out(`${file}: valid\n`);
  return EXIT.ok;
}
