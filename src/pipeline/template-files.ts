import { posix } from 'node:path';
import { fileStart, type Issues } from './issues.js';
import { loadYaml } from './load-yaml.js';
import type { SourcePos } from './types.js';
import { buildTree, describeNode, type YMap } from './yaml-tree.js';

/**
 * Returns a file's text, or undefined when there is no such file; throws an Error saying why
 * when the file may not be read (its message is shown to the user). Paths use `/`.
 */
export type ReadFile = (path: string) => string | undefined;

/** As Azure: no more than 100 distinct template files in one pipeline. */
export const MAX_TEMPLATE_FILES = 100;

/**
 * A template reference → the path handed to `readFile`. Relative paths are resolved from the
 * including file's folder; a path starting with `/` from the root of the file names (the
 * folder the pipeline's own path is relative to, normally the repository root).
 */
export function resolveTemplatePath(includingFile: string, ref: string): string {
  const written = ref.trim().replace(/\\/g, '/');
  if (written.startsWith('/')) return posix.normalize(written.replace(/^\/+/, ''));
  const from = posix.dirname(includingFile.replace(/\\/g, '/'));
  return posix.normalize(posix.join(from, written));
}

/** Reads, parses and caches template files; every problem goes to `issues` with the file's name. */
export class TemplateFiles {
  private readonly cache = new Map<string, YMap | undefined>();

  constructor(
    private readonly issues: Issues,
    private readonly readFile: ReadFile | undefined,
  ) {}

  /** Files read so far, path → text: what a caller must send for the same pipeline to compile elsewhere. */
  readonly texts = new Map<string, string>();

  load(path: string, ref: string, at: SourcePos): YMap | undefined {
    if (this.cache.has(path)) return this.cache.get(path);
    const tree = this.read(path, ref, at);
    this.cache.set(path, tree);
    return tree;
  }

  private read(path: string, ref: string, at: SourcePos): YMap | undefined {
    if (this.readFile === undefined) {
      this.issues.add(at, `cannot read template '${ref}': no template files were given to the compiler`);
      return undefined;
    }
    if (this.cache.size >= MAX_TEMPLATE_FILES) {
      this.issues.add(at, `a pipeline may use at most ${MAX_TEMPLATE_FILES} template files`);
      return undefined;
    }
    let text: string | undefined;
    try {
      text = this.readFile(path);
    } catch (error) {
      // The reader's reason (outside the repository, not a file); never the file's contents.
      this.issues.add(at, `cannot read template '${ref}': ${(error as Error).message}`);
      return undefined;
    }
    if (text === undefined) {
      const looked = path === ref.trim() ? '' : ` (looked for '${path}')`;
      this.issues.add(at, `template '${ref}' not found${looked}`);
      return undefined;
    }
    this.texts.set(path, text);
    const loaded = loadYaml(text, this.issues, path);
    const root = loaded && buildTree(loaded, this.issues);
    if (root === undefined) return undefined;
    if (root.kind !== 'map') {
      this.issues.add(fileStart(path), `a template must be a mapping, found ${describeNode(root)}`);
      return undefined;
    }
    return root;
  }
}
