import { describe, expect, it } from 'vitest';
import { parseLddOutput } from './ldd.js';

describe('parseLddOutput', () => {
  it('lists glibc libraries and the loader, without the vDSO', () => {
    const output = [
      '\tlinux-vdso.so.1 (0x00007ffc1d5f2000)',
      '\tlibdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007f41ebf58000)',
      '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f41eba1e000)',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007f41ebf70000)',
      '',
    ].join('\n');
    expect(parseLddOutput(output)).toEqual([
      { name: 'libdl.so.2', path: '/lib/x86_64-linux-gnu/libdl.so.2' },
      { name: 'libc.so.6', path: '/lib/x86_64-linux-gnu/libc.so.6' },
      { name: 'ld-linux-x86-64.so.2', path: '/lib64/ld-linux-x86-64.so.2' },
    ]);
  });

  it("reads musl's shape, where the loader is listed with an arrow", () => {
    const output =
      '\t/lib/ld-musl-x86_64.so.1 (0x7f0)\n\tlibc.musl-x86_64.so.1 => /lib/ld-musl-x86_64.so.1 (0x7f0)\n';
    expect(parseLddOutput(output)).toEqual([
      { name: 'ld-musl-x86_64.so.1', path: '/lib/ld-musl-x86_64.so.1' },
      { name: 'libc.musl-x86_64.so.1', path: '/lib/ld-musl-x86_64.so.1' },
    ]);
  });

  it('refuses a binary whose library the host lacks', () => {
    expect(() => parseLddOutput('\tlibfoo.so.1 => not found\n', '/usr/bin/foo')).toThrow(
      '/usr/bin/foo needs libfoo.so.1, which the host does not have',
    );
  });
});
