import { describe, expect, it } from 'vitest';
import { stableMtimes } from '../../src/export/stable-mtimes.js';
import type { TreeEntry } from '../../src/records/tree-manifest.js';

const f = (path: string, sha256: string, size: number, mtime: number): TreeEntry => ({ path, type: 'f', mode: 0o644, mtime, size, sha256, xxh64: null, pack: 'p', offset: 0, target: null });
const l = (path: string, target: string, mtime: number): TreeEntry => ({ path, type: 'l', mode: 0o777, mtime, size: 0, sha256: null, xxh64: null, pack: null, offset: 0, target });
const d = (path: string, mtime: number): TreeEntry => ({ path, type: 'd', mode: 0o755, mtime, size: 0, sha256: null, xxh64: null, pack: null, offset: 0, target: null });

describe('stable mtimes for rsync clients', () => {
  const before = [f('a.ebuild', 'h1', 10, 100), f('b.ebuild', 'h2', 20, 100), f('c', 'h3', 5, 100), l('link', 'a.ebuild', 100), d('dir', 100)];

  it.each([
    ['unchanged content, fresh checkout mtime: keeps the old mtime', f('a.ebuild', 'h1', 10, 999), 100],
    ['unchanged content, stable mtime: unchanged', f('a.ebuild', 'h1', 10, 100), 100],
    ['changed content: takes the archive mtime', f('b.ebuild', 'h9', 22, 500), 500],
    ['changed content, same size and same mtime: one second later, or rsync would skip it', f('c', 'h8', 5, 100), 101],
    ['new file: the archive mtime', f('new', 'h7', 1, 300), 300],
    ['unchanged symlink: keeps the old mtime', l('link', 'a.ebuild', 700), 100],
    ['retargeted symlink: the archive mtime', l('link', 'b.ebuild', 700), 700],
    ['directory: the archive mtime (clients omit directory times)', d('dir', 800), 800],
  ])('%s', (_name, entry, mtime) => {
    const [out] = stableMtimes([entry], before);
    expect(out.mtime).toBe(mtime);
  });

  it('the first export keeps the archive mtimes', () => {
    expect(stableMtimes(before, null)).toEqual(before);
  });
});
