/**
 * Text a job printed, made safe to write to a person's terminal (or to show in the UI).
 *
 * A job's output is not trusted: carriage returns and cursor movement can overwrite what was
 * shown before (a fake `✔ Run succeeded`), OSC sequences can set the window title, write the
 * clipboard (OSC 52) or disguise a link (OSC 8), and others switch to the alternate screen.
 * SGR sequences (`ESC [ … m`: colours, bold) are kept when asked for; every other control
 * character is shown as a visible symbol instead of acting, so the rest of its sequence
 * appears as plain text: `ESC ] 0 ; title BEL` shows as `␛]0;title␇`.
 */
export interface VisibleTextOptions {
  /** Keep SGR colour sequences (and reset them at the end); default true. False removes them. */
  colors?: boolean;
}

// Parameters of SGR only: digits, `;` and `:` (for `38:2::r:g:b`). Anything else is not a colour.
const SGR = /\x1b\[[0-9;:]{0,64}m/y;
const RESET = '\x1b[0m';

export function visibleTerminalText(text: string, options: VisibleTextOptions = {}): string {
  const colors = options.colors ?? true;
  let out = '';
  let painted = false;
  let plainFrom = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (!isSpecial(code)) continue;
    out += text.slice(plainFrom, i);
    plainFrom = i + 1;
    if (code === 0x1b) {
      SGR.lastIndex = i;
      const sgr = SGR.exec(text);
      if (sgr) {
        if (colors) {
          out += sgr[0];
          painted = true;
        }
        i += sgr[0].length - 1;
        plainFrom = i + 1;
        continue;
      }
    }
    if (code === 0x0d && (i + 1 === text.length || text.charCodeAt(i + 1) === 0x0a)) continue; // CRLF
    out += symbolFor(code);
  }
  out += text.slice(plainFrom);
  return painted ? out + RESET : out;
}

/** The characters `isSpecial` picks out, for a native search of a whole chunk at once. */
const SPECIAL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

/** Whether `visibleTerminalText` would change anything in `text`: most log output it leaves as it is. */
export function hasSpecialCharacters(text: string): boolean {
  return SPECIAL.test(text);
}

function isSpecial(code: number): boolean {
  if (code < 0x20) return code !== 0x09 && code !== 0x0a;
  if (code < 0x7f) return false;
  return code <= 0x9f || (code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069);
}

/** C0 controls as Unicode's control pictures (`␛`, `␍`, `␇`), others by code point. */
function symbolFor(code: number): string {
  if (code < 0x20) return String.fromCharCode(0x2400 + code);
  if (code === 0x7f) return '\u2421';
  return `<U+${code.toString(16).toUpperCase().padStart(4, '0')}>`;
}
