import { z } from 'zod';
import { flag, text } from './inputs.js';
import type { TaskDefinition } from './types.js';

const inputs = z.object({
  script: text('echo Write your commands here'),
  workingDirectory: text(),
  failOnStderr: flag(false),
});

/** CmdLine@2: `script:` by another name (bash on Linux). */
export const cmdLine: TaskDefinition<typeof inputs> = {
  name: 'CmdLine',
  version: 2,
  summary: 'runs an inline script with bash, as `script:` does',
  inputs,
  run: (ctx, o) =>
    ctx.runScript({
      language: 'bash',
      script: o.script,
      failOnStderr: o.failOnStderr,
      ...(o.workingDirectory ? { workingDirectory: o.workingDirectory } : {}),
    }),
};
