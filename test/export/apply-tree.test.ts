/**
 * Applying an exported tree over the one a generation holds, in one walk: whatever the change of
 * shape (a directory that became a file, a file that became a directory with content below it, a
 * link that became a directory), the result is the directory a fresh apply of the target makes,
 * and the counts are the dry run's.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyTree, countChanges } from '../../src/export/apply-tree.js';
import { ObjectCache } from '../../src/export/object-cache.js';
import type { TreeEntry } from '../../src/records/tree-manifest.js';
import { sha256Hex } from '../../src/util/sha256.js';
import { tempDir } from '../helpers/cli.js';
import { listTree } from '../helpers/tree-compare.js';

const cache = new ObjectCache(join(tempDir(), 'objects'));
const f = (path: string, text: string, mtime = 1000): TreeEntry => {
  const data = Buffer.from(text);
  const e: TreeEntry = { path, type: 'f', mode: 0o644, mtime, size: data.length, sha256: sha256Hex(data), xxh64: null, pack: null, offset: 0, target: null };
  cache.putSynthetic(e, data);
  return e;
};
const d = (path: string, mode = 0o755): TreeEntry => ({ path, type: 'd', mode, mtime: 1, size: 0, sha256: null, xxh64: null, pack: null, offset: 0, target: null });
const l = (path: string, target: string): TreeEntry => ({ path, type: 'l', mode: 0o777, mtime: 1, size: 0, sha256: null, xxh64: null, pack: null, offset: 0, target });

const before: TreeEntry[] = [
  d('.'),
  d('becomes-file'),
  f('becomes-file/inner', 'inner'),
  d('becomes-file/deeper'),
  f('becomes-file/deeper/x', 'x'),
  f('becomes-dir', 'was a file'),
  l('link-becomes-dir', 'kept'),
  d('kept'),
  f('kept/same', 'same'),
  f('kept/new-content', 'old'),
  f('kept/new-mtime', 'm', 1000),
  l('kept/retargeted', 'same'),
  f('kept/becomes-link', 'to be a link'),
  d('removed'),
  f('removed/a', 'a'),
  f('removed-file', 'gone'),
];
const after: TreeEntry[] = [
  d('.'),
  f('becomes-file', 'now a file'),
  d('becomes-dir'),
  d('becomes-dir/sub'),
  f('becomes-dir/sub/y', 'y'),
  d('link-becomes-dir'),
  f('link-becomes-dir/z', 'z'),
  d('kept', 0o750),
  f('kept/same', 'same'),
  f('kept/new-content', 'new'),
  f('kept/new-mtime', 'm', 2000),
  l('kept/retargeted', 'new-content'),
  l('kept/becomes-link', 'same'),
  d('new-dir'),
  f('new-dir/n', 'n'),
  f('new-dir-sibling-file', 's'),
];

describe('applying a tree over another', () => {
  it('makes what a fresh apply makes, counting what the dry run counts', () => {
    const fresh = join(tempDir(), 'fresh');
    applyTree(fresh, null, after, cache);
    const dir = join(tempDir(), 'gen');
    applyTree(dir, null, before, cache);
    expect(listTree(dir)).not.toEqual(listTree(fresh));

    const change = applyTree(dir, before, after, cache);
    expect(listTree(dir, { mtimes: true })).toEqual(listTree(fresh, { mtimes: true }));
    const { released, ...counts } = change;
    expect(counts).toEqual(countChanges(before, after));
    // every file the old tree linked and the new one does not: the exporter's sweep candidates
    expect(released.length).toBe(8);
  });

  it('leaves an unchanged tree untouched and counts nothing', () => {
    const dir = join(tempDir(), 'gen');
    applyTree(dir, null, after, cache);
    const listed = listTree(dir, { mtimes: true });
    expect(applyTree(dir, after, after, cache)).toEqual({ added: 0, changed: 0, removed: 0, released: [] });
    expect(listTree(dir, { mtimes: true })).toEqual(listed);
  });

  it('takes both trees as walks in path order, as the exporter gives them', () => {
    const walk = (t: TreeEntry[]) => [...t].sort((a, b) => (a.path < b.path ? -1 : 1)).values();
    const dir = join(tempDir(), 'gen');
    applyTree(dir, null, before, cache);
    applyTree(dir, walk(before), walk(after), cache);
    const fresh = join(tempDir(), 'fresh');
    applyTree(fresh, null, after, cache);
    expect(listTree(dir)).toEqual(listTree(fresh));
  });
});
