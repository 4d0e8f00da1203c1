/**
 * A small, strict XML reader for test result files (JUnit, NUnit, xUnit, TRX): elements,
 * attributes, text, CDATA, comments, processing instructions and a DOCTYPE without an internal
 * subset; the five named entities and numeric character references. Names keep no namespace
 * prefix (TRX puts everything in a default namespace). No DTDs, so no entity expansion attacks.
 * Malformed input throws XmlError naming the line and column.
 */

export interface XmlElement {
  /** Local name (a `prefix:` is dropped). */
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  /** The element's own text and CDATA, concatenated (children's text excluded). */
  text: string;
}

export class XmlError extends Error {
  constructor(
    readonly line: number,
    readonly col: number,
    message: string,
  ) {
    super(`line ${line}, column ${col}: ${message}`);
    this.name = 'XmlError';
  }
}

const NAMED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
const NAME = /[A-Za-z_:][-A-Za-z0-9_:.]*/y;

export function parseXml(input: string): XmlElement {
  const src = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  let i = 0;
  const fail = (message: string, at = i): never => {
    const before = src.slice(0, at);
    const line = before.split('\n').length;
    throw new XmlError(line, at - before.lastIndexOf('\n'), message);
  };
  const startsWith = (s: string) => src.startsWith(s, i);
  const skipSpace = () => {
    while (i < src.length && /\s/.test(src[i]!)) i++;
  };
  const readName = (): string => {
    NAME.lastIndex = i;
    const m = NAME.exec(src);
    if (!m) fail('expected a name');
    i += m![0].length;
    return m![0];
  };
  const localName = (name: string) => name.slice(name.lastIndexOf(':') + 1);
  const decode = (raw: string, at: number): string =>
    raw.replace(/&([^;&\s]*);?/g, (whole, ref: string, offset: number) => {
      if (!whole.endsWith(';')) fail("'&' must start an entity like &amp;", at + offset);
      if (ref.startsWith('#x') || ref.startsWith('#X'))
        return codePoint(Number.parseInt(ref.slice(2), 16), at + offset);
      if (ref.startsWith('#')) return codePoint(Number.parseInt(ref.slice(1), 10), at + offset);
      const named = NAMED[ref];
      if (named === undefined) fail(`unknown entity '&${ref};'`, at + offset);
      return named!;
    });
  const codePoint = (n: number, at: number): string => {
    if (!Number.isFinite(n) || n <= 0 || n > 0x10ffff) fail('invalid character reference', at);
    return String.fromCodePoint(n);
  };
  /** Skips `<?…?>`, `<!--…-->` and `<!DOCTYPE …>`; true when it skipped something. */
  const skipMarkup = (): boolean => {
    const pairs: Array<[string, string]> = [
      ['<?', '?>'],
      ['<!--', '-->'],
    ];
    for (const [open, close] of pairs) {
      if (!startsWith(open)) continue;
      const end = src.indexOf(close, i + open.length);
      if (end < 0) fail(`'${open}' is never closed`);
      i = end + close.length;
      return true;
    }
    if (startsWith('<!DOCTYPE')) {
      const end = src.indexOf('>', i);
      if (end < 0 || src.slice(i, end).includes('[')) fail('a DOCTYPE with an internal subset is not read');
      i = end + 1;
      return true;
    }
    return false;
  };

  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  while (i < src.length) {
    const top = stack[stack.length - 1];
    if (src[i] !== '<') {
      const end = src.indexOf('<', i);
      const stop = end < 0 ? src.length : end;
      const raw = src.slice(i, stop);
      if (top) top.text += decode(raw, i);
      else if (raw.trim() !== '') fail('text outside the root element');
      i = stop;
      continue;
    }
    if (skipMarkup()) continue;
    if (startsWith('<![CDATA[')) {
      const end = src.indexOf(']]>', i);
      if (end < 0) fail('CDATA is never closed');
      if (!top) fail('CDATA outside the root element');
      top!.text += src.slice(i + 9, end);
      i = end + 3;
      continue;
    }
    if (startsWith('</')) {
      const at = i;
      i += 2;
      const name = readName();
      skipSpace();
      if (src[i] !== '>') fail("expected '>'");
      i++;
      if (!top || localName(name) !== top.name) fail(`closing tag '${name}' does not match`, at);
      stack.pop();
      continue;
    }
    i++;
    if (!top && root) fail('a second root element');
    const element: XmlElement = { name: localName(readName()), attributes: {}, children: [], text: '' };
    for (;;) {
      const spaced = i < src.length && /\s/.test(src[i]!);
      skipSpace();
      if (startsWith('/>') || src[i] === '>') break;
      if (i >= src.length) fail('the tag is never closed');
      if (!spaced) fail('expected a space before the attribute');
      const attr = localName(readName());
      skipSpace();
      if (src[i] !== '=') fail(`expected '=' after attribute '${attr}'`);
      i++;
      skipSpace();
      const quote = src[i];
      if (quote !== '"' && quote !== "'") fail(`attribute '${attr}' needs a quoted value`);
      const end = src.indexOf(quote!, i + 1);
      if (end < 0) fail(`attribute '${attr}' is never closed`);
      const raw = src.slice(i + 1, end);
      if (raw.includes('<')) fail(`'<' in the value of attribute '${attr}'`, i + 1 + raw.indexOf('<'));
      element.attributes[attr] = decode(raw, i + 1);
      i = end + 1;
    }
    if (top) top.children.push(element);
    else root = element;
    if (startsWith('/>')) i += 2;
    else {
      i++;
      stack.push(element);
    }
  }
  if (stack.length > 0) fail(`element '${stack[stack.length - 1]!.name}' is never closed`);
  if (!root) fail('no root element');
  return root!;
}

/** Direct children named `name`. */
export function childrenNamed(element: XmlElement, name: string): XmlElement[] {
  return element.children.filter((c) => c.name === name);
}

/** The first direct child named `name`. */
export function child(element: XmlElement, name: string): XmlElement | undefined {
  return element.children.find((c) => c.name === name);
}

/** Every descendant named `name`, in document order (not below a match). */
export function descendants(element: XmlElement, name: string): XmlElement[] {
  const found: XmlElement[] = [];
  const walk = (e: XmlElement) => {
    for (const c of e.children) {
      if (c.name === name) found.push(c);
      else walk(c);
    }
  };
  walk(element);
  return found;
}
