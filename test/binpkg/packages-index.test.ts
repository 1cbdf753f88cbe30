/** The Packages index, read and written by the rules of Portage's own parser (spec §1). */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parsePackages, writePackages } from '../../src/binpkg/packages-index.js';
import { expected, fixture } from '../helpers/fixtures.js';

describe('Packages index', () => {
  for (const name of ['pkgdir-signed/Packages', 'pkgdir-unsigned-variants/Packages']) {
    it(`reads ${name} exactly as Portage wrote it`, () => {
      const parsed = parsePackages(readFileSync(fixture(name), 'utf8'));
      expect(parsed.header).toEqual(expected.indexes[name].header);
      expect(parsed.entries).toEqual(expected.indexes[name].entries);
    });

    it(`writes ${name} back byte for byte`, () => {
      const text = readFileSync(fixture(name), 'utf8');
      expect(writePackages(parsePackages(text))).toBe(text);
    });
  }

  it('drops the first character after the colon, like the client', () => {
    expect(parsePackages('VERSION:0\nTIMESTAMP: 1\n\n').header).toEqual({ VERSION: '', TIMESTAMP: '1' });
  });

  it('stops at a second empty line, like the client (entries after it are lost)', () => {
    const text = 'VERSION: 0\n\nCPV: a/b-1\n\n\nCPV: c/d-1\n\n';
    expect(parsePackages(text).entries.map((e) => e.CPV)).toEqual(['a/b-1']);
  });

  it('never writes what a client would misread', () => {
    const text = writePackages({
      header: { VERSION: '0', CHOST: 'x86_64-pc-linux-gnu', EMPTY: '' },
      entries: [
        { CPV: 'z/z-1', SLOT: '0', CHOST: 'x86_64-pc-linux-gnu', DEPEND: 'a\n  b\tc', USE: '', MTIME: '5', REPO: 'gentoo', BUILD_ID: '1' },
        { CPV: 'a/a-1', SLOT: '2/2.1', CHOST: 'aarch64-unknown-linux-gnu', MTIME: '6', REPO: 'gentoo' },
      ],
    });
    expect(text).toBe(
      [
        'CHOST: x86_64-pc-linux-gnu',
        'VERSION: 0',
        '',
        'CHOST: aarch64-unknown-linux-gnu',
        'CPV: a/a-1',
        'SLOT: 2/2.1',
        'MTIME: 6',
        'REPO: gentoo',
        '',
        'BUILD_ID: 1',
        'CPV: z/z-1',
        'DEPEND: a b c',
        'MTIME: 5',
        'REPO: gentoo',
        '',
        '',
      ].join('\n'),
    );
    // no doubled blank line inside: every entry survives a client's parse
    expect(parsePackages(text).entries).toHaveLength(2);
  });
});
