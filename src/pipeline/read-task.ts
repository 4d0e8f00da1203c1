import type { Issues } from './issues.js';
import { checkKeys, entryOf, mismatch, readStringMap } from './reader.js';
import type { PipelinePlan, SourcePos, StepPlan } from './types.js';
import type { YEntry, YMap } from './yaml-tree.js';

/** A `task:` step as written: the task, its version and its inputs. */
export interface TaskCallInput {
  name: string;
  version: number;
  inputs: Readonly<Record<string, string>>;
}

/**
 * What the pipeline asks of the tasks Slipway has (the tasks domain answers; the pipeline
 * stays free of their code). `unsupported` says why Slipway cannot run the task at all;
 * `problems` name inputs that are wrong.
 */
export interface TaskCatalog {
  check(call: TaskCallInput): { unsupported?: string; problems: string[] };
}

/** `Name@major`, as Azure writes a task reference. */
const TASK_REF = /^([A-Za-z][A-Za-z0-9_.-]*)@(\d{1,4})$/;

/** The keys of a `task:` step besides the common ones. */
export const TASK_KEYS = ['task', 'inputs'];

/** `task:` and `inputs:` of a step; the caller reads the common keys. */
export function readTaskCall(
  issues: Issues,
  map: YMap,
  taskEntry: YEntry,
): { task: NonNullable<StepPlan['task']>; displayName: string } | undefined {
  const { value } = taskEntry;
  const ref = value.kind === 'scalar' ? TASK_REF.exec(value.value.trim()) : null;
  const inputsEntry = entryOf(map, 'inputs');
  const inputs = inputsEntry ? readStringMap(issues, inputsEntry) : {};
  if (!ref?.[1] || !ref[2]) {
    if (value.kind === 'scalar')
      issues.add(
        value.pos,
        `task '${value.value}' must be written 'Name@<major version>' (e.g. 'CopyFiles@2')`,
      );
    else mismatch(issues, taskEntry, "a task reference 'Name@<major version>'");
    return undefined;
  }
  if (inputs === undefined) return undefined;
  const name = ref[1];
  const version = Number(ref[2]);
  return { task: { name, version, inputs, pos: taskEntry.keyPos }, displayName: name };
}

/** Checks the common keys of a task step, with `task` and `inputs` known. */
export function checkTaskKeys(issues: Issues, map: YMap, common: readonly string[]): void {
  checkKeys(issues, map, { context: 'task step', known: [...TASK_KEYS, ...common] });
}

/**
 * Every task step of the plan checked against the tasks Slipway has: an unknown task (or
 * version) is an error, unless `allowUnsupported`, where it becomes a step that fails saying
 * why; wrong inputs are always errors. Without a catalog no task is known.
 */
export function checkTaskSteps(
  issues: Issues,
  plan: PipelinePlan,
  catalog: TaskCatalog | undefined,
  allowUnsupported: boolean,
): void {
  for (const job of plan.jobs) {
    for (const step of job.steps) {
      if (step.kind !== 'task' || step.task === undefined) continue;
      const { task } = step;
      const checked = catalog?.check(task) ?? {
        unsupported: `task '${task.name}@${task.version}' is not supported by Slipway`,
        problems: [],
      };
      const at: SourcePos = task.pos;
      if (checked.unsupported !== undefined) {
        if (allowUnsupported) {
          task.unsupported = checked.unsupported;
          issues.note(at, `${checked.unsupported}; it runs as a step that fails (--allow-unsupported-tasks)`);
        } else
          issues.add(
            at,
            `${checked.unsupported} (or run with --allow-unsupported-tasks: it becomes a failing step)`,
          );
        continue;
      }
      for (const problem of checked.problems)
        issues.add(at, `task '${task.name}@${task.version}': ${problem}`);
    }
  }
}
