import { describe, expect, it } from 'vitest';
import { parseAnsi, plainText } from './ansi.js';

const ESC = '\x1b';

describe('parseAnsi', () => {
  it('reads the 16 colours, bold and resets into classes', () => {
    expect(parseAnsi(`${ESC}[1;31merror${ESC}[0m: ${ESC}[92mok${ESC}[39m done`)).toEqual([
      { text: 'error', classes: ['bold', 'fg-1'] },
      { text: ': ', classes: [] },
      { text: 'ok', classes: ['fg-10'] },
      { text: ' done', classes: [] },
    ]);
  });

  it('reads 256 colours and true colour in both spellings', () => {
    expect(parseAnsi(`${ESC}[38;5;208mA`)[0]).toMatchObject({ text: 'A', color: 'rgb(255,135,0)' });
    expect(parseAnsi(`${ESC}[38;2;10;20;30mB`)[0]).toMatchObject({ text: 'B', color: 'rgb(10,20,30)' });
    expect(parseAnsi(`${ESC}[48:2::1:2:3mC`)[0]).toMatchObject({ text: 'C', background: 'rgb(1,2,3)' });
    expect(parseAnsi(`${ESC}[38;5;4mD`)[0]).toMatchObject({ text: 'D', classes: ['fg-4'] });
  });

  it('shows every other control sequence as visible text instead of acting on it', () => {
    const text = parseAnsi(`a${ESC}]0;title\x07b\rc${ESC}[2Kd`)
      .map((s) => s.text)
      .join('');
    expect(text).toBe('a␛]0;title␇b␍c␛[2Kd');
  });

  it('keeps markup as the characters it is', () => {
    expect(parseAnsi('<script>alert(1)</script>')).toEqual([
      { text: '<script>alert(1)</script>', classes: [] },
    ]);
  });

  it('gives search the text without colours', () => {
    expect(plainText(`${ESC}[31mred${ESC}[0m text`)).toBe('red text');
  });
});
