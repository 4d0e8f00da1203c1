import { visibleTerminalText } from '../../shared/terminal-text.js';

/** A run of text in one style: classes for the 16 colours and attributes, CSS colours for the rest. */
export interface Segment {
  text: string;
  /** `fg-1`, `bg-4`, `bold`, `dim`, `italic`, `underline`, … */
  classes: string[];
  /** A 256-colour or true-colour foreground as CSS (`rgb(…)`). */
  color?: string;
  background?: string;
}

interface Style {
  bold: boolean;
  dim: boolean;
  italic: boolean;
  underline: boolean;
  inverse: boolean;
  fg?: number | string;
  bg?: number | string;
}

const plain = (): Style => ({ bold: false, dim: false, italic: false, underline: false, inverse: false });

/**
 * One log line as styled segments. Only SGR (`ESC[…m`) has an effect; every other control
 * character is made visible first (`␛]0;title␇`), as the CLI shows it, so a line can neither
 * move the cursor nor hide text. The style starts plain on every line.
 */
export function parseAnsi(line: string): Segment[] {
  const text = visibleTerminalText(line);
  const out: Segment[] = [];
  let style = plain();
  let from = 0;
  const sgr = /\x1b\[([0-9;:]*)m/g;
  for (let m = sgr.exec(text); m; m = sgr.exec(text)) {
    if (m.index > from) out.push(segment(text.slice(from, m.index), style));
    style = apply(style, m[1]!);
    from = m.index + m[0].length;
  }
  if (from < text.length) out.push(segment(text.slice(from), style));
  return merge(out);
}

/** The line without its colour codes, for search. */
export function plainText(line: string): string {
  return visibleTerminalText(line, { colors: false });
}

function apply(prev: Style, params: string): Style {
  const s = { ...prev };
  // `38:2::r:g:b` and `38;2;r;g;b` mean the same; split both forms into one list.
  const colon = params.includes(':');
  const codes = params === '' ? [0] : params.split(/[;:]/).map((p) => (p === '' ? 0 : Number(p)));
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i]!;
    if (c === 0) Object.assign(s, plain(), { fg: undefined, bg: undefined });
    else if (c === 1) s.bold = true;
    else if (c === 2) s.dim = true;
    else if (c === 3) s.italic = true;
    else if (c === 4) s.underline = true;
    else if (c === 7) s.inverse = true;
    else if (c === 22) s.bold = s.dim = false;
    else if (c === 23) s.italic = false;
    else if (c === 24) s.underline = false;
    else if (c === 27) s.inverse = false;
    else if (c >= 30 && c <= 37) s.fg = c - 30;
    else if (c >= 90 && c <= 97) s.fg = c - 90 + 8;
    else if (c === 39) s.fg = undefined;
    else if (c >= 40 && c <= 47) s.bg = c - 40;
    else if (c >= 100 && c <= 107) s.bg = c - 100 + 8;
    else if (c === 49) s.bg = undefined;
    else if (c === 38 || c === 48) {
      const [color, used] = extended(codes, i + 1, colon);
      if (c === 38) s.fg = color;
      else s.bg = color;
      i += used;
    }
  }
  return s;
}

/**
 * After `38`/`48`: `5;n` (256 colours) or `2;r;g;b`; the colon form may carry a colour-space
 * id first (`2::r:g:b`). Answers the colour and how many codes it used.
 */
function extended(codes: number[], at: number, colon: boolean): [number | string | undefined, number] {
  const mode = codes[at];
  if (mode === 5) {
    const n = codes[at + 1];
    if (n === undefined || n > 255) return [undefined, 2];
    return [n < 16 ? n : xterm256(n), 2];
  }
  if (mode === 2) {
    const skip = colon && codes.length - (at + 1) >= 4 ? 1 : 0;
    const rgb = codes.slice(at + 1 + skip, at + 4 + skip);
    const used = 1 + skip + 3;
    if (rgb.length < 3 || rgb.some((v) => !(v >= 0 && v <= 255))) return [undefined, used];
    return [`rgb(${rgb.join(',')})`, used];
  }
  return [undefined, 0];
}

function xterm256(n: number): string {
  if (n >= 232) {
    const v = 8 + (n - 232) * 10;
    return `rgb(${v},${v},${v})`;
  }
  const i = n - 16;
  const step = (x: number) => (x === 0 ? 0 : 55 + x * 40);
  return `rgb(${step(Math.floor(i / 36))},${step(Math.floor(i / 6) % 6)},${step(i % 6)})`;
}

function segment(text: string, s: Style): Segment {
  const classes: string[] = [];
  if (s.bold) classes.push('bold');
  if (s.dim) classes.push('dim');
  if (s.italic) classes.push('italic');
  if (s.underline) classes.push('underline');
  const seg: Segment = { text, classes };
  const [fg, bg] = s.inverse ? [s.bg, s.fg] : [s.fg, s.bg];
  // Inverse of the default colours: the page's background on its text colour.
  if (s.inverse && fg === undefined) classes.push('fg-inverse');
  if (s.inverse && bg === undefined) classes.push('bg-inverse');
  if (typeof fg === 'number') classes.push(`fg-${fg}`);
  else if (typeof fg === 'string') seg.color = fg;
  if (typeof bg === 'number') classes.push(`bg-${bg}`);
  else if (typeof bg === 'string') seg.background = bg;
  return seg;
}

function merge(segments: Segment[]): Segment[] {
  const out: Segment[] = [];
  for (const s of segments) {
    const last = out.at(-1);
    if (
      last &&
      last.color === s.color &&
      last.background === s.background &&
      last.classes.join() === s.classes.join()
    )
      last.text += s.text;
    else out.push(s);
  }
  return out;
}
