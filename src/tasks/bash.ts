import { z } from 'zod';
import { choice, flag, text } from './inputs.js';
import { fileScript } from './script-file.js';
import type { TaskDefinition } from './types.js';

const inputs = z.object({
  targetType: choice(['filePath', 'inline'], 'filePath'),
  filePath: text(),
  arguments: text(),
  script: text(),
  workingDirectory: text(),
  failOnStderr: flag(false),
  bashEnvValue: text(),
  noProfile: flag(true),
  noRc: flag(true),
});

/** Bash@3: an inline script or a script file with arguments. */
export const bash: TaskDefinition<typeof inputs> = {
  name: 'Bash',
  version: 3,
  summary: 'runs an inline bash script or a script file with arguments',
  inputs,
  async run(ctx, o) {
    const body =
      o.targetType === 'inline' ? { script: o.script } : fileScript(ctx, 'bash', o.filePath, o.arguments);
    if ('failure' in body) return { result: 'failed', reason: body.failure };
    return ctx.runScript({
      language: 'bash',
      script: body.script,
      failOnStderr: o.failOnStderr,
      ...(o.workingDirectory ? { workingDirectory: o.workingDirectory } : {}),
      ...(o.bashEnvValue ? { env: { BASH_ENV: o.bashEnvValue } } : {}),
    });
  },
};
