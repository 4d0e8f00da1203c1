import { resolve } from 'node:path';
import type { TaskContext } from './types.js';

/** Single quotes for bash and PowerShell alike (a quote inside is doubled for pwsh, closed and escaped for bash). */
export function quoteFor(language: 'bash' | 'pwsh', text: string): string {
  return language === 'bash' ? `'${text.replace(/'/g, `'\\''`)}'` : `'${text.replace(/'/g, "''")}'`;
}

/** The script a `targetType: filePath` task runs: the file with its arguments, as written. */
export function fileScript(
  ctx: TaskContext,
  language: 'bash' | 'pwsh',
  filePath: string,
  args: string,
): { script: string } | { failure: string } {
  if (filePath.trim() === '') return { failure: "targetType 'filePath' needs filePath" };
  const file = resolve(ctx.sourcesDir, filePath.trim());
  const tail = args.trim() ? ` ${args.trim()}` : '';
  return {
    script:
      language === 'bash' ? `bash ${quoteFor('bash', file)}${tail}` : `& ${quoteFor('pwsh', file)}${tail}`,
  };
}
