import { findAllOnPath } from '../tools/find-tool.js';
import type { TaskContext } from '../types.js';

/** Debian's package for each program the archive tasks run (named in the failure). */
const PACKAGES: Readonly<Record<string, string>> = { zip: 'zip', unzip: 'unzip', tar: 'tar' };

/**
 * Why `program` cannot run for `task`, or undefined when it is on the step's PATH. The archive
 * tasks run the job image's own `zip`/`unzip`/`tar`, as Azure's do on Linux: an archive made
 * by a job is what that image's tools make, and they run as the job's user, never the agent's.
 */
export function missingProgram(ctx: TaskContext, program: string, task: string): string | undefined {
  if (findAllOnPath(program, ctx.env.PATH).length > 0) return undefined;
  return (
    `${task} needs '${program}', which is not on the job image's PATH: use a container image that ` +
    `has it (on Debian or Ubuntu: apt-get install ${PACKAGES[program] ?? program})`
  );
}

/** `text` as one word for sh (single quotes; a quote inside closed and escaped). */
export function shQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** A name as an argument that no program reads as an option. */
export function asOperand(name: string): string {
  return shQuote(name.startsWith('-') ? `./${name}` : name);
}
