import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { z } from 'zod';
import { requireProgram, runCommand, splitArguments } from './command-line.js';
import { flag, text } from './inputs.js';
import type { TaskDefinition } from './types.js';

const inputs = z.object({
  workingDirectory: text('build'),
  cmakeArgs: text(),
  runInsideShell: flag(false),
});

/** CMake@1: `cmake <cmakeArgs>` in the working directory (`build` by default), made when missing. */
export const cmake: TaskDefinition<typeof inputs> = {
  name: 'CMake',
  version: 1,
  summary: 'runs cmake with cmakeArgs in workingDirectory (created when missing)',
  inputs,
  aliases: { cwd: 'workingDirectory' },
  async run(ctx, o) {
    const missing = requireProgram(
      ctx,
      'cmake',
      'use a job image that has cmake and a compiler (the Debian packages cmake and build-essential)',
    );
    if (missing) return missing;
    const dir = resolve(ctx.sourcesDir, o.workingDirectory);
    await ctx.confine(dir);
    await mkdir(dir, { recursive: true });
    await ctx.handOver(dir);
    // runInsideShell: the arguments are shell text (variables, globs), as Azure runs them then.
    if (o.runInsideShell) {
      ctx.log(`##[command]cmake ${o.cmakeArgs}`);
      const outcome = await ctx.runScript({
        language: 'bash',
        script: `cmake ${o.cmakeArgs}`,
        workingDirectory: dir,
      });
      return outcome.result === 'failed'
        ? { result: 'failed', reason: `cmake failed: ${outcome.reason}` }
        : outcome;
    }
    return runCommand(ctx, { program: 'cmake', args: splitArguments(o.cmakeArgs), workingDirectory: dir });
  },
};
