import { z } from 'zod';
import { flag, text } from './inputs.js';
import { selectNode } from './node-versions.js';
import type { TaskDefinition } from './types.js';

const inputs = z.object({
  version: text('10.x'),
  checkLatest: flag(false),
  force32bit: flag(false),
  retryCountOnDownloadFails: text(),
  delayBetweenRetries: text(),
});

/** UseNode@1. */
export const useNode: TaskDefinition<typeof inputs> = {
  name: 'UseNode',
  version: 1,
  summary: 'selects a Node.js from the tool cache or PATH, never downloading',
  inputs,
  run: (ctx, o) => selectNode(ctx, o.version, o.force32bit),
};
