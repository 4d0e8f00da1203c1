import { describe, expect, it } from 'vitest';
import { archiveKind } from '../extract-files.js';
import { checkInputs, findTask } from '../registry.js';

describe('ArchiveFiles@2 and ExtractFiles@1 inputs', () => {
  const archive = findTask('ArchiveFiles', 2)!;

  it.each([
    [
      { archiveType: '7z' },
      ["input 'archiveType' '7z': 7-Zip archives are not supported by Slipway; use zip or tar"],
    ],
    [
      { archiveType: 'wim' },
      [
        "input 'archiveType' 'wim': Windows Imaging (wim) archives are not supported by Slipway; use zip or tar",
      ],
    ],
    [{ archiveType: 'rar' }, ["input 'archiveType' must be zip or tar, found 'rar'"]],
    [
      { archiveType: 'TAR', tarCompression: 'zstd' },
      ["input 'tarCompression' must be one of gz, bz2, xz, none, found 'zstd'"],
    ],
    [{ archiveType: 'zip', includeRootFolder: 'False', replaceExistingArchive: 'true' }, []],
    [{ archiveType: '$(kind)' }, []],
  ])('%o → %o', (raw, problems) => {
    expect(checkInputs(archive, raw)).toEqual(problems);
  });

  it('asks ExtractFiles@1 for its destination', () => {
    expect(checkInputs(findTask('ExtractFiles', 1)!, {})).toEqual(["input 'destinationFolder' is required"]);
  });

  it.each([
    ['a/b.zip', 'zip'],
    ['lib.JAR', 'zip'],
    ['x.tar', 'tar'],
    ['x.tar.gz', 'tar'],
    ['x.tgz', 'tar'],
    ['x.tar.bz2', 'tar'],
    ['x.txz', 'tar'],
    ['x.7z', undefined],
    ['x.gz', undefined],
    ['x.rar', undefined],
  ])('%s is unpacked as %s', (file, kind) => {
    expect(archiveKind(file)).toBe(kind);
  });
});
