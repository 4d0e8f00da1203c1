import type { TaskCatalog } from '../pipeline/index.js';

/**
 * Runs `check` (a pipeline parse) against the tasks Slipway has, loading them only when the
 * pipeline calls one: their code and input schemas were a tenth of `slipway run`'s own CPU time,
 * and most pipelines are scripts. The first pass uses a stand-in that only notes a task call;
 * a pipeline with task steps is then checked again with the real catalog (a few ms), so its
 * answer, errors included, is the one the real catalog gives.
 */
export async function withTaskCatalog<T>(check: (tasks: TaskCatalog) => T): Promise<T> {
  let called = false;
  const probe: TaskCatalog = {
    check() {
      called = true;
      return { problems: [] };
    },
  };
  let first: T;
  try {
    first = check(probe);
  } catch (err) {
    // Errors before any task was seen are the whole answer; the real catalog would add none.
    if (!called) throw err;
  }
  if (!called) return first!;
  const { taskCatalog } = await import('../tasks/index.js');
  return check(taskCatalog);
}
