import { z } from 'zod';
import { choice, flag, text } from './inputs.js';
import { fileScript } from './script-file.js';
import type { TaskDefinition } from './types.js';

const preference = () => choice(['stop', 'continue', 'silentlyContinue'], 'stop');

const inputs = z.object({
  targetType: choice(['filePath', 'inline'], 'filePath'),
  filePath: text(),
  arguments: text(),
  script: text(),
  errorActionPreference: preference(),
  warningPreference: text(),
  informationPreference: text(),
  verbosePreference: text(),
  debugPreference: text(),
  progressPreference: text(),
  failOnStderr: flag(false),
  showWarnings: flag(false),
  ignoreLASTEXITCODE: flag(false),
  pwsh: flag(false),
  workingDirectory: text(),
  runScriptInSeparateScope: flag(false),
});

/** PowerShell@2: with `pwsh` (PowerShell 7) where the image has it, as `pwsh:` steps run. */
export const powerShell: TaskDefinition<typeof inputs> = {
  name: 'PowerShell',
  version: 2,
  summary: 'runs an inline PowerShell script or a .ps1 file with pwsh, where the image has it',
  inputs,
  async run(ctx, o) {
    const body =
      o.targetType === 'inline' ? { script: o.script } : fileScript(ctx, 'pwsh', o.filePath, o.arguments);
    if ('failure' in body) return { result: 'failed', reason: body.failure };
    return ctx.runScript({
      language: 'pwsh',
      script: body.script,
      failOnStderr: o.failOnStderr,
      errorActionPreference: o.errorActionPreference,
      ignoreLASTEXITCODE: o.ignoreLASTEXITCODE,
      ...(o.workingDirectory ? { workingDirectory: o.workingDirectory } : {}),
    });
  },
};
