import { type ParseOptions, parsePipeline, validatePipeline } from './parse-pipeline.js';
import type { PipelinePlan } from './types.js';

/** Lines of YAML, ending in a newline. */
export const lines = (...text: string[]): string => `${text.join('\n')}\n`;

/** A readFile over an in-memory set of files. */
export function filesOf(files: Record<string, string>): (path: string) => string | undefined {
  return (path) => (Object.hasOwn(files, path) ? files[path] : undefined);
}

/** Every error as `file:line:col: message`, for a pipeline `p.yml` beside `files`. */
export function errorsOf(
  text: string,
  files: Record<string, string> = {},
  options: ParseOptions = {},
): string[] {
  return validatePipeline(text, 'p.yml', { readFile: filesOf(files), ...options }).map((e) => e.message);
}

export function planOf(
  text: string,
  files: Record<string, string> = {},
  options: ParseOptions = {},
): PipelinePlan {
  return parsePipeline(text, 'p.yml', { readFile: filesOf(files), ...options });
}

/** The scripts of each job, by job name: what most template tests are about. */
export function scriptsOf(plan: PipelinePlan): Record<string, string[]> {
  return Object.fromEntries(plan.jobs.map((j) => [j.name, j.steps.map((s) => s.script)]));
}
