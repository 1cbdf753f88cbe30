/**
 * Comparing two repository trees by walking their manifests side by side, never decoding either
 * whole: the count must be what a full diff of the decoded trees says, on every kind of change.
 */
import { describe, expect, it } from 'vitest';
import { diffTrees } from '../../src/records/build-diff.js';
import { countTreeChanges, decodeTree, encodeTree, findTreeEntries, listTreeChanges, streamTreeEntries, treePacks, type TreeEntry } from '../../src/records/tree-manifest.js';

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
    expect(await countTreeChanges(ea, eb)).toBe(n);
    const full = diffTrees(a && decodeTree(ea!), b && decodeTree(eb!));
    expect(full.added.length + full.removed.length + full.changed.length).toBe(n);
  });
});

describe('findTreeEntries', () => {
  it('finds the paths asked for in one walk, and not what is missing', async () => {
    const found = await findTreeEntries((await encodeTree(base)).data, ['m', 'a/x', 'nope']);
    expect([...found.keys()].sort()).toEqual(['a/x', 'm']);
    expect(found.get('m')!.sha256).toBe(f('m', '3').sha256);
  });
});

describe('listTreeChanges with watched paths', () => {
  it('picks up the entries at the watched paths of each tree in the same walk, changed or not', async () => {
    const after = [...base.filter((e) => e.path !== 'a/x').map((e) => (e.path === 'm' ? f('m', '8') : e)), f('n', '5')];
    const [ea, eb] = await Promise.all([base, after].map(async (t) => (await encodeTree(t)).data));
    const { count, found } = await listTreeChanges(ea, eb, 10, ['a/x', 'm', 'n', 'z', 'nope']);
    expect(count).toBe(3);
    expect([...found[0].keys()].sort()).toEqual(['a/x', 'm', 'z']);
    expect([...found[1].keys()].sort()).toEqual(['m', 'n', 'z']);
    expect(found[0].get('m')!.sha256).toBe(f('m', '3').sha256);
    expect(found[1].get('m')!.sha256).toBe(f('m', '8').sha256);
  });
});

describe('streamed walks of a large tree', () => {
  // 30,000 entries are about 4 MB of text: the walk crosses many 256 KiB chunks, some of them
  // inside a line and inside a multi-byte character
  const big: TreeEntry[] = [d('.')];
  for (let i = 0; i < 30000; i++) big.push(f(`cat-${String(i % 97).padStart(2, '0')}/pkg-${i}/fïle-ñame-€-${i}.ebuild`, String(i % 10)));
  const sorted = [...big].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

  it('streams the same entries, in the same order, as a whole decode', async () => {
    const data = (await encodeTree(big)).data;
    const streamed: TreeEntry[] = [];
    for await (const batch of streamTreeEntries(data)) streamed.push(...batch);
    expect(streamed.length).toBe(big.length);
    expect(streamed).toEqual(decodeTree(data));
  });

  it('counts and lists the changes a full diff finds, and finds an entry near the end', async () => {
    const changed = sorted
      .filter((_, i) => i % 5000 !== 1)
      .map((e, i) => (i % 7001 === 3 ? f(e.path, 'x') : e))
      .concat([f('zz/new', '1'), f('aa/new', '1')]);
    const [ea, eb] = [(await encodeTree(sorted)).data, (await encodeTree(changed)).data];
    const full = diffTrees(decodeTree(ea), decodeTree(eb));
    const listed = await listTreeChanges(ea, eb, 3);
    expect(listed.count).toBe(full.added.length + full.removed.length + full.changed.length);
    expect(listed.count).toBeGreaterThan(8);
    expect(listed.first.map((c) => c.path)).toEqual([...full.added, ...full.removed, ...full.changed].sort().slice(0, 3));
    const last = sorted.at(-1)!.path;
    expect((await findTreeEntries(ea, [last])).get(last)?.sha256).toBe(sorted.at(-1)!.sha256);
  });
});

describe('treePacks', () => {
  it("names the packs a manifest's files are in, as a walk of every entry finds them", async () => {
    const inPack = (path: string, pack: string): TreeEntry => ({ ...f(path, '5'), pack });
    // 3,000 packs: a first line longer than one inflated chunk
    const packs = Array.from({ length: 3000 }, (_, i) => i.toString(16).padStart(64, '0'));
    const tree = [d('.'), ...packs.map((p, i) => inPack(`f${String(i).padStart(5, '0')}`, p)), l('link', 'f00000'), inPack('g', packs[7])];
    const { data } = await encodeTree(tree);
    const walked = new Set<string>();
    for (const e of decodeTree(data)) if (e.pack) walked.add(e.pack);
    expect(await treePacks(data)).toEqual([...walked]);
    expect(await treePacks((await encodeTree([d('.'), l('only', '.')])).data)).toEqual([]);
  });
});
