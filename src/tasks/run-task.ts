import type { TaskCall } from '../pipeline/index.js';
import { describeInputIssues, normalizeInputs } from './inputs.js';
import { findTask, unsupportedReason } from './registry.js';
import type { TaskContext, TaskOutcome } from './types.js';

/**
 * Runs a `task:` step: the inputs with their macros expanded (`expand`), checked against the
 * task's schema, then the task. Any problem is the step's failure, naming the input.
 */
export async function runTask(
  call: TaskCall,
  ctx: TaskContext,
  expand: (text: string) => string,
): Promise<TaskOutcome> {
  if (call.unsupported !== undefined) return { result: 'failed', reason: call.unsupported };
  const task = findTask(call.name, call.version);
  if (task === undefined) return { result: 'failed', reason: unsupportedReason(call.name, call.version) };
  const { inputs, unknown } = normalizeInputs(task, call.inputs);
  if (unknown.length > 0) return { result: 'failed', reason: `unknown input '${unknown[0]}'` };
  const expanded = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, expand(v)]));
  const parsed = task.inputs.safeParse(expanded);
  if (!parsed.success)
    return { result: 'failed', reason: describeInputIssues(parsed.error.issues).join('; ') };
  return task.run(ctx, parsed.data);
}
