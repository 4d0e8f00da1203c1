import { Composer, CST, type Document, LineCounter, Parser } from 'yaml';
import { fileStart, type Issues } from './issues.js';
import type { SourcePos } from './types.js';

/** Larger files are refused before parsing: no real pipeline comes close. */
export const MAX_PIPELINE_BYTES = 1024 * 1024;

/**
 * yaml's composer recurses once per nesting level; a few thousand levels overflow the stack, and
 * near the limit V8 can abort the whole process (an uncatchable OOM in its RegExp compiler), so
 * deep nesting is refused while the input is still a flat token tree.
 */
export const MAX_NESTING_DEPTH = 64;

export interface LoadedYaml {
  doc: Document.Parsed;
  /** The text the offsets refer to (without a byte-order mark). */
  text: string;
  posAt(offset: number): SourcePos;
}

/**
 * Text → the single YAML document it holds, or undefined with the reasons recorded. `file` names
 * a template file in positions; leave it out for the pipeline file itself.
 */
export function loadYaml(rawText: string, issues: Issues, file?: string): LoadedYaml | undefined {
  const start = fileStart(file);
  const what = file === undefined ? 'the pipeline file' : 'the template file';
  if (exceedsBytes(rawText, MAX_PIPELINE_BYTES)) {
    issues.add(start, `${what} is larger than ${MAX_PIPELINE_BYTES / 1024 / 1024} MiB`);
    return undefined;
  }
  // A BOM would otherwise shift every column on line 1 by one.
  const text = rawText.startsWith('\uFEFF') ? rawText.slice(1) : rawText;
  const lines = new LineCounter();
  const posAt = (offset: number): SourcePos => toPos(lines, offset, file);
  const tokens = Array.from(new Parser(lines.addNewLine).parse(text));
  const deepAt = findTooDeep(tokens);
  if (deepAt !== undefined) {
    issues.add(posAt(deepAt), `the YAML nests deeper than ${MAX_NESTING_DEPTH} levels`);
    return undefined;
  }
  // yaml's own duplicate-key check compares each key with every earlier one: quadratic, so a
  // 1 MiB mapping of short keys would take minutes. The tree builder checks keys with a Set.
  const composer = new Composer({ schema: 'failsafe', uniqueKeys: false, prettyErrors: false });
  const docs = Array.from(composer.compose(tokens));
  const doc = singleDocument(docs, posAt, issues, start, what);
  if (doc === undefined) return undefined;
  reportYamlErrors(doc, posAt, issues, tokens);
  return doc.errors.length > 0 ? undefined : { doc, text, posAt };
}

function exceedsBytes(text: string, max: number): boolean {
  if (text.length > max) return true;
  // UTF-16 code units expand to at most 3 UTF-8 bytes each.
  if (text.length * 3 <= max) return false;
  return Buffer.byteLength(text, 'utf8') > max;
}

function toPos(lines: LineCounter, offset: number, file: string | undefined): SourcePos {
  const { line, col } = lines.linePos(offset);
  const pos = line === 0 ? { line: 1, col: offset + 1 } : { line, col };
  return file === undefined ? pos : { ...pos, file };
}

function singleDocument(
  docs: Document.Parsed[],
  posAt: (offset: number) => SourcePos,
  issues: Issues,
  start: SourcePos,
  what: string,
): Document.Parsed | undefined {
  const [first, second] = docs;
  if (first === undefined || (docs.length === 1 && first.contents === null && first.errors.length === 0)) {
    issues.add(start, `${what} is empty`);
    return undefined;
  }
  if (second !== undefined) {
    issues.add(
      posAt(second.range[0]),
      `${what.replace('the ', 'a ')} holds one YAML document; remove the second one`,
    );
    return undefined;
  }
  return first;
}

function reportYamlErrors(
  doc: Document.Parsed,
  posAt: (offset: number) => SourcePos,
  issues: Issues,
  tokens: CST.Token[],
): void {
  for (const error of doc.errors) {
    const opener = unclosedOpener(error.code, error.message, error.pos[0], tokens);
    if (opener === undefined) issues.add(posAt(error.pos[0]), `invalid YAML: ${error.message}`);
    else issues.add(posAt(opener.offset), `invalid YAML: ${error.message} (${opener.what} opened here)`);
  }
  // Tags are checked where nodes are read; other warnings (bad indentation, ambiguous anchors) are
  // refused because the parser guessed what the author meant.
  for (const warning of doc.warnings) {
    if (warning.code !== 'TAG_RESOLVE_FAILED')
      issues.add(posAt(warning.pos[0]), `invalid YAML: ${warning.message}`);
  }
}

/**
 * A quote or a flow collection that is never closed is found only where the file (or the
 * block) ends; the place to fix is where it was opened, so the error goes there: the last
 * unclosed one before the point yaml reports.
 */
function unclosedOpener(
  code: string,
  message: string,
  at: number,
  tokens: CST.Token[],
): { offset: number; what: string } | undefined {
  const quote = code === 'MISSING_CHAR' && /quote/i.test(message);
  const flow = /^Flow (sequence|map)/.test(message) || (code === 'MISSING_CHAR' && /[\]}]/.test(message));
  if (!quote && !flow) return undefined;
  let found: { offset: number; what: string } | undefined;
  const pending = [...tokens];
  for (let token = pending.pop(); token !== undefined; token = pending.pop()) {
    pending.push(...childTokens(token));
    if (token.offset > at || (found && token.offset < found.offset)) continue;
    if (quote && (token.type === 'double-quoted-scalar' || token.type === 'single-quoted-scalar')) {
      const mark = token.source[0]!;
      const body = token.source.trimEnd();
      if (body.length < 2 || !body.endsWith(mark))
        found = { offset: token.offset, what: `the ${mark} quote` };
    } else if (flow && token.type === 'flow-collection') {
      const close = token.start.source === '[' ? ']' : '}';
      if (!token.end.some((t) => t.source === close))
        found = { offset: token.offset, what: `the '${token.start.source}'` };
    }
  }
  return found;
}

function findTooDeep(tokens: CST.Token[]): number | undefined {
  const pending: Array<{ token: CST.Token; depth: number }> = tokens.map((token) => ({ token, depth: 0 }));
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    for (const child of childTokens(next.token)) {
      const depth = CST.isCollection(child) ? next.depth + 1 : next.depth;
      if (depth > MAX_NESTING_DEPTH) return child.offset;
      pending.push({ token: child, depth });
    }
  }
  return undefined;
}

function childTokens(token: CST.Token): CST.Token[] {
  switch (token.type) {
    case 'document':
      return token.value ? [token.value] : [];
    case 'block-map':
    case 'block-seq':
    case 'flow-collection': {
      const children: CST.Token[] = [];
      for (const item of token.items) {
        if (item.key) children.push(item.key);
        if (item.value) children.push(item.value);
      }
      return children;
    }
    default:
      return [];
  }
}
