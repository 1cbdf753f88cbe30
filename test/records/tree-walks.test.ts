/**
 * Comparing two repository trees by walking their manifests side by side, never decoding either
 * whole: the count must be what a full diff of the decoded trees says, on every kind of change.
 */
import { describe, expect, it } from 'vitest';
import { diffTrees } from '../../src/records/build-diff.js';
import { countTreeChanges, decodeTree, encodeTree, findTreeEntries, type TreeEntry } from '../../src/records/tree-manifest.js';

const f = (path: string, content: string): TreeEntry => ({ path, type: 'f', mode: 0o644, mtime: 1, size: 1, sha256: content.repeat(64).slice(0, 64), xxh64: null, pack: 'p', offset: 0, target: null });
const l = (path: string, target: string): TreeEntry => ({ path, type: 'l', mode: 0o777, mtime: 1, size: 0, sha256: null, xxh64: null, pack: null, offset: 0, target });
const d = (path: string): TreeEntry => ({ path, type: 'd', mode: 0o755, mtime: 1, size: 0, sha256: null, xxh64: null, pack: null, offset: 0, target: null });
const base = [d('.'), d('a'), f('a/x', '1'), f('a/y', '2'), l('b', 'a'), f('m', '3'), f('z', '4')];

describe('countTreeChanges', () => {
  const cases: [string, TreeEntry[] | null, TreeEntry[] | null, number][] = [
    ['the same tree', base, base, 0],
    ['a file added at the start, in the middle and at the end', base, [f('0', '9'), ...base.slice(0, 5), f('l', '9'), ...base.slice(5), f('zz', '9')], 3],
    ['a file removed', base, base.filter((e) => e.path !== 'a/y'), 1],
    ['content changed', base, base.map((e) => (e.path === 'm' ? f('m', '8') : e)), 1],
    ['a link retargeted', base, base.map((e) => (e.path === 'b' ? l('b', 'm') : e)), 1],
    ['a file became a link', base, base.map((e) => (e.path === 'z' ? l('z', 'm') : e)), 1],
    ['directories alone do not count', base, [...base, d('new')], 0],
    ['everything replaced', base, [d('.'), f('q', '1')], 6],
    ['a tree that appeared', null, base, 5],
    ['a tree that went', base, null, 5],
  ];
  it.each(cases)('%s', async (_name, a, b, n) => {
    const [ea, eb] = await Promise.all([a, b].map(async (t) => (t ? (await encodeTree(t)).data : null)));
    expect(countTreeChanges(ea, eb)).toBe(n);
    const full = diffTrees(a && decodeTree(ea!), b && decodeTree(eb!));
    expect(full.added.length + full.removed.length + full.changed.length).toBe(n);
  });
});

describe('findTreeEntries', () => {
  it('finds the paths asked for in one walk, and not what is missing', async () => {
    const found = findTreeEntries((await encodeTree(base)).data, ['m', 'a/x', 'nope']);
    expect([...found.keys()].sort()).toEqual(['a/x', 'm']);
    expect(found.get('m')!.sha256).toBe(f('m', '3').sha256);
  });
});
