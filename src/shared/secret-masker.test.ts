import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../shared/errors.js';
import {
  MASK,
  MIN_SECRET_LENGTH,
  maskText,
  SecretMasker,
  secretForms,
  validateSecretValue,
} from './secret-masker.js';

function stream(masker: SecretMasker, chunks: readonly string[]): string {
  return chunks.map((chunk) => masker.write(chunk)).join('') + masker.flush();
}

describe('maskText', () => {
  const secret = 'p@ss w0rd/+?&"\\é';

  it('masks the raw value, also inside a longer word', () => {
    expect(maskText('token=hunter22; xhunter22y', ['hunter22'])).toBe(`token=${MASK}; x${MASK}y`);
  });

  it('masks the base64 encoding at each byte alignment', () => {
    for (const prefix of ['', 'a', 'ab', 'abc', 'user:']) {
      for (const suffix of ['', 'z', 'zz', '\n']) {
        const encoded = Buffer.from(`${prefix}${secret}${suffix}`).toString('base64');
        const masked = maskText(`Authorization: Basic ${encoded}`, [secret]);
        expect(masked).toContain(MASK);
        // Only characters that mix in neighbouring bytes may survive: at most 2 on each side.
        const left = masked.slice('Authorization: Basic '.length, masked.indexOf(MASK));
        const right = masked.slice(masked.indexOf(MASK) + MASK.length);
        const prefixChars = Math.floor((8 * Buffer.byteLength(prefix)) / 6);
        expect(left.length).toBeLessThanOrEqual(prefixChars + 1);
        expect(right.length).toBeLessThanOrEqual(Math.ceil((8 * Buffer.byteLength(suffix)) / 6) + 3);
      }
    }
  });

  it('masks the URL-encoded form', () => {
    const url = `https://x.test/?q=${encodeURIComponent(secret)}&next=1`;
    expect(maskText(url, [secret])).toBe(`https://x.test/?q=${MASK}&next=1`);
  });

  it('masks the JSON-escaped form', () => {
    const json = JSON.stringify({ password: secret, user: 'me' });
    expect(maskText(json, [secret])).toBe(`{"password":"${MASK}","user":"me"}`);
  });

  it('masks each line of a multi-line secret on its own, skipping short lines', () => {
    const key = '-----BEGIN KEY-----\nMIIEabcdefgh\nxy\n-----END KEY-----';
    const out = maskText('line one: MIIEabcdefgh\nxy ok\n-----END KEY-----', [key]);
    expect(out).toBe(`line one: ${MASK}\nxy ok\n${MASK}`);
    expect(maskText(`json: ${JSON.stringify(key)}`, [key])).toBe(`json: "${MASK}"`);
  });

  it('masks the union of overlapping and touching matches as one run', () => {
    expect(maskText('..abcdef..', ['abcd', 'cdef'])).toBe(`..${MASK}..`);
    expect(maskText('..abcdabcd..', ['abcd'])).toBe(`..${MASK}..`);
    expect(maskText('..aaaaaaa..', ['aaaa'])).toBe(`..${MASK}..`);
    expect(maskText('..abcdefgh..', ['abcdefgh', 'cdef'])).toBe(`..${MASK}..`);
  });

  it('treats regex metacharacters literally', () => {
    expect(maskText('a.*b a.*(b|c)$ axxb', ['.*(b|c)$'])).toBe(`a.*b a${MASK} axxb`);
  });

  it('passes text through when there are no secrets', () => {
    expect(maskText('nothing to see', [])).toBe('nothing to see');
  });
});

describe('secret length', () => {
  it('refuses secrets shorter than the minimum', () => {
    expect(MIN_SECRET_LENGTH).toBe(4);
    expect(() => new SecretMasker(['abc'])).toThrow(ValidationError);
    expect(() => new SecretMasker(['abc'])).toThrow('secrets must be at least 4 characters');
    expect(() => new SecretMasker([]).addSecret('')).toThrow(ValidationError);
    expect(() => new SecretMasker(['abcd'])).not.toThrow();
  });

  it('validateSecretValue names the secret but never shows its value', () => {
    let error: unknown;
    try {
      validateSecretValue('DEPLOY_KEY', 'xyz');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    const message = (error as Error).message;
    expect(message).toContain('DEPLOY_KEY');
    expect(message).toContain('secrets must be at least 4 characters');
    expect(message).not.toContain('xyz');
    expect(() => validateSecretValue('OK', 'long enough')).not.toThrow();
  });
});

describe('SecretMasker streaming', () => {
  it('keeps masking on its own when maskers with the same secrets learn different new ones', () => {
    const first = new SecretMasker(['hunter22']);
    const second = new SecretMasker(['hunter22']);
    first.addSecret('letmein99');
    expect(stream(first, ['hunter22 letmein99 s3cr3t-x'])).toBe(`${MASK} ${MASK} s3cr3t-x`);
    expect(stream(second, ['hunter22 letmein99 s3cr3t-x'])).toBe(`${MASK} letmein99 s3cr3t-x`);
    second.addSecret('s3cr3t-x');
    expect(stream(first, ['hunter22 s3cr3t-x'])).toBe(`${MASK} s3cr3t-x`);
    expect(stream(second, ['hunter22 s3cr3t-x'])).toBe(`${MASK} ${MASK}`);
  });

  it('masks a secret split across chunks', () => {
    const masker = new SecretMasker(['supersecret']);
    expect(stream(masker, ['echo sup', 'erse', 'cret done\n'])).toBe(`echo ${MASK} done\n`);
  });

  it('holds back at most the longest pattern minus one character', () => {
    const secret = 'abcdefghij';
    const longest = Math.max(...secretForms(secret).map((f) => f.length));
    const masker = new SecretMasker([secret]);
    const text = 'x'.repeat(1000);
    const out = masker.write(text);
    expect(out.length).toBeGreaterThanOrEqual(text.length - (longest - 1));
    expect(out + masker.flush()).toBe(text);
  });

  it('does not end a write between the halves of a surrogate pair', () => {
    const masker = new SecretMasker(['abcd']);
    for (let n = 1; n < 12; n++) {
      const out = masker.write('😀'.repeat(n));
      const last = out.charCodeAt(out.length - 1);
      expect(last >= 0xd800 && last <= 0xdbff).toBe(false);
    }
    masker.flush();
  });

  it('masks secrets added at runtime from then on', () => {
    const masker = new SecretMasker(['first-secret']);
    const a = masker.write('first-secret then ');
    masker.addSecret('late-secret');
    const b = masker.write('late-secret end');
    expect(a + b + masker.flush()).toBe(`${MASK} then ${MASK} end`);
  });

  it('holds back only text that could begin a secret', () => {
    const masker = new SecretMasker(['a-rather-long-secret-value']);
    expect(masker.write('started\n')).toBe('started\n');
    expect(masker.write('value a-rather')).toBe('value ');
    expect(masker.write('-long-secret-value!')).toBe(`${MASK}!`);
    expect(masker.flush()).toBe('');
  });

  it('emits one mask for a run that spans writes', () => {
    const masker = new SecretMasker(['abcd']);
    const out = stream(masker, ['xx', 'abcdabcdabcd'.repeat(3), 'abcdyy']);
    expect(out).toBe(`xx${MASK}yy`);
  });

  it('can be reused after flush', () => {
    const masker = new SecretMasker(['abcd']);
    expect(stream(masker, ['ab', 'cd'])).toBe(MASK);
    expect(stream(masker, ['cd'])).toBe('cd');
  });

  it('masks 10 MB of output with 20 secrets quickly', () => {
    const secrets = Array.from({ length: 20 }, (_, i) => `secret-${i}-${'k'.repeat(i)}-value`);
    const line = '2024-01-01T00:00:00Z npm WARN deprecated something@1.2.3: please upgrade now\n';
    const chunks: string[] = [];
    let size = 0;
    for (let i = 0; size < 10 * 1024 * 1024; i++) {
      const chunk = i % 1000 === 0 ? `${line}token ${secrets[i % 20]}\n` : line.repeat(50);
      chunks.push(chunk);
      size += chunk.length;
    }
    const masker = new SecretMasker(secrets);
    const started = performance.now();
    const out = stream(masker, chunks);
    const elapsed = performance.now() - started;
    for (const secret of secrets) expect(out).not.toContain(secret);
    // Linear, ~0.3 s idle; a bound against pathological slowness on a loaded machine.
    expect(elapsed).toBeLessThan(5000);
  });

  it('masks a secret too long for the fast table in every form, across writes', () => {
    // 64 KB with ~90 distinct characters: the deep part of the matcher is past the table's budget.
    let seed = 7;
    const chars = Array.from({ length: 90 }, (_, i) => String.fromCharCode(0x21 + i));
    const secret = Array.from({ length: 64 * 1024 }, () => {
      seed = (seed * 48271) % 2147483647;
      return chars[seed % chars.length]!;
    }).join('');
    const text = `a ${secret} b ${Buffer.from(`x${secret}`).toString('base64')} c ${JSON.stringify(secret)} d\n`;
    const chunks = Array.from({ length: Math.ceil(text.length / 999) }, (_, i) =>
      text.slice(i * 999, (i + 1) * 999),
    );
    const out = stream(new SecretMasker([secret]), chunks);
    expect(out).toMatch(/^a \*{3} b [A-Za-z0-9+/]{0,2}\*{3}[A-Za-z0-9+/=]{0,4} c "\*{3}" d\n$/);
  });
});

describe('SecretMasker properties', () => {
  // `*` is left out of secrets: the mask itself is made of it, so `x*` beside a mask would
  // spell such a secret again (see the class comment).
  const secretChar = fc.oneof(
    fc.constantFrom(...'.+?^$()[]{}|\\/-"\'%&=:\n\t é'.split('')),
    fc.constantFrom(...'abcXYZ019'.split('')),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
  );
  const secretArb = fc
    .array(secretChar, { minLength: MIN_SECRET_LENGTH, maxLength: 24 })
    .map((chars) => chars.join(''))
    .filter((s) => !s.includes('*') && [...s].length >= MIN_SECRET_LENGTH);
  const textArb = fc.string({ unit: 'grapheme', maxLength: 40 });

  function splitAt(text: string, cuts: number[]): string[] {
    const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
    const chunks: string[] = [];
    let from = 0;
    for (const point of points) {
      chunks.push(text.slice(from, point));
      from = point;
    }
    chunks.push(text.slice(from));
    return chunks;
  }

  it('never emits a secret or any of its forms, whatever the chunking', () => {
    fc.assert(
      fc.property(
        fc.array(secretArb, { minLength: 1, maxLength: 3 }),
        fc.array(fc.tuple(textArb, fc.nat(), fc.nat()), { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (secrets, pieces, cuts) => {
          const forms = secrets.flatMap((s) => secretForms(s));
          const text = pieces.map(([filler, s, f]) => filler + forms[(s * 7 + f) % forms.length]).join('');
          const out = stream(new SecretMasker(secrets), splitAt(text, cuts));
          for (const form of forms) expect(out).not.toContain(form);
          expect(out).toBe(maskText(text, secrets));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('passes text without secrets through unchanged, whatever the chunking', () => {
    fc.assert(
      fc.property(
        fc.array(secretArb, { minLength: 1, maxLength: 3 }),
        fc.string({ unit: 'grapheme', maxLength: 200 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (secrets, text, cuts) => {
          fc.pre(secrets.flatMap((s) => secretForms(s)).every((form) => !text.includes(form)));
          expect(stream(new SecretMasker(secrets), splitAt(text, cuts))).toBe(text);
        },
      ),
      { numRuns: 300 },
    );
  });
});
