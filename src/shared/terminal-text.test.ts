import { describe, expect, it } from 'vitest';
import { hasSpecialCharacters, visibleTerminalText } from './terminal-text.js';

describe('visibleTerminalText', () => {
  it('keeps SGR colours and resets them at the end', () => {
    expect(visibleTerminalText('\x1b[1;31mred\x1b[0m and \x1b[38:2::1:2:3mtrue\x1b[m')).toBe(
      '\x1b[1;31mred\x1b[0m and \x1b[38:2::1:2:3mtrue\x1b[m\x1b[0m',
    );
    expect(visibleTerminalText('plain \x1b[32mgreen', { colors: false })).toBe('plain green');
  });

  it.each([
    ['carriage return over earlier text', 'building…\r\x1b[32m✔\x1b[0m Run succeeded', 'building…␍'],
    ['erase line and cursor up', 'x\x1b[2K\x1b[1A\x1b[Gy', 'x␛[2K␛[1A␛[Gy'],
    [
      'an OSC 8 link',
      '\x1b]8;;https://evil.example/\x1b\\docs\x1b]8;;\x1b\\',
      '␛]8;;https://evil.example/␛\\docs',
    ],
    ['an OSC 0 title', '\x1b]0;pwned\x07', '␛]0;pwned␇'],
    ['an OSC 52 clipboard write', '\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07', '␛]52;c;Y3VybCBldmlsIHwgc2g=␇'],
    ['the alternate screen', '\x1b[?1049h', '␛[?1049h'],
    ['an SGR with a non-colour parameter', '\x1b[?25lhidden cursor', '␛[?25lhidden cursor'],
    ['8-bit CSI and OSC', '\u009b2J\u009d0;t\u0007', '<U+009B>2J<U+009D>0;t␇'],
    ['backspace, bell, NUL and DEL', 'a\bb\x07\x00\x7f', 'a␈b␇␀␡'],
    ['bidirectional overrides', 'abc\u202edcba', 'abc<U+202E>dcba'],
  ])('shows %s as visible text', (_what, input, shown) => {
    expect(visibleTerminalText(input)).toContain(shown);
    expect(visibleTerminalText(input).replace(/\x1b\[[0-9;:]*m/g, '')).not.toMatch(
      /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/,
    );
  });

  it('drops the carriage return of a CRLF line end and keeps tabs', () => {
    expect(visibleTerminalText('a\tb\r')).toBe('a\tb');
    expect(visibleTerminalText('a\r\nb')).toBe('a\nb');
  });
});

describe('hasSpecialCharacters', () => {
  it('is false exactly for the text visibleTerminalText leaves as it is', () => {
    for (let code = 0; code < 0x2100; code++) {
      const text = `a${String.fromCharCode(code)}b`;
      expect(hasSpecialCharacters(text), `U+${code.toString(16)}`).toBe(
        visibleTerminalText(text, { colors: false }) !== text,
      );
    }
  });
});
