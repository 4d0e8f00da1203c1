import { z } from 'zod';
import { choice, flag, text } from './inputs.js';
import { selectNode, versionFromFile } from './node-versions.js';
import type { TaskDefinition } from './types.js';

const inputs = z.object({
  versionSource: choice(['spec', 'fromFile'], 'spec'),
  versionSpec: text('6.x'),
  versionFilePath: text(),
  checkLatest: flag(false),
  force32bit: flag(false),
  nodejsMirror: text(),
  retryCountOnDownloadFails: text(),
  delayBetweenRetries: text(),
});

/** NodeTool@0. */
export const nodeTool: TaskDefinition<typeof inputs> = {
  name: 'NodeTool',
  version: 0,
  summary: 'selects a Node.js from the tool cache or PATH, never downloading',
  inputs,
  async run(ctx, o) {
    let spec = o.versionSpec;
    if (o.versionSource === 'fromFile') {
      if (!o.versionFilePath)
        return { result: 'failed', reason: "versionSource 'fromFile' needs versionFilePath" };
      const read = await versionFromFile(ctx, o.versionFilePath);
      if (typeof read !== 'string') return read;
      spec = read;
    }
    return selectNode(ctx, spec, o.force32bit);
  },
};
