/**
 * gc's planner as a table: a store laid out object by object, then what the plan says of each
 * object group, with its reason (in use, too young, leased, garbage), and its guard as a refusal in
 * the plan, so that `gc --dry-run` already says a real run would refuse.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planGc } from '../../src/maintenance/gc.js';
import { encodeTree } from '../../src/records/tree-manifest.js';
import { FsStore } from '../../src/store/fs-store.js';
import { keys } from '../../src/store/keys.js';

const NOW = 2_000_000_000;
const DAY = 86400;
const sha = (c: string) => c.repeat(64);

/** A store whose machine `web` has build 1 using blob `a`, and blobs b… of the given ages (days) that nothing uses. */
async function store(unused: Record<string, number>) {
  const s = new FsStore(mkdtempSync(join(tmpdir(), 'gbp-gcplan-')));
  const put = (key: string, data: string | Buffer, ageDays: number) => s.put(key, data, { mtime: NOW - ageDays * DAY });
  const tree = await encodeTree([
    { path: '.', type: 'd', mode: 0o755, mtime: 1, size: 0, sha256: null, xxh64: null, pack: null, offset: 0, target: null },
    { path: 'f', type: 'f', mode: 0o644, mtime: 1, size: 1, sha256: sha('9'), xxh64: null, pack: 'used', offset: 0, target: null },
  ]);
  await put(keys.tree(tree.sha256), tree.data, 10);
  await put(keys.pack('used'), 'x', 10);
  await put(keys.pack('orphan'), 'x', 10);
  for (const [c, age] of Object.entries({ a: 10, ...unused })) {
    await put(keys.blob(sha(c), `${c}-1.gpkg.tar`), 'x', age);
    await put(keys.blobMeta(sha(c)), '{}', age);
  }
  const build = {
    format: 1, machine: 'web', id: '1', created: NOW, parent: null,
    archive: { source: 'x', sha256: sha('0'), bytes: 1, tarBytes: 1, compression: 'gzip' },
    binpkgs: { header: {}, packages: [{ sha256: sha('a'), stanza: { PATH: `x` } }] },
    trees: { 'repos/gentoo': { manifest: tree.sha256, files: 1, bytes: 1 } },
    warnings: [],
  };
  await s.put(keys.buildJson('web', '1'), JSON.stringify(build));
  await s.put(keys.machineState('web'), JSON.stringify({ format: 1, machine: 'web', builds: [{ id: '1', added: NOW }], published: '1', tags: {}, kept: [], notes: {} }));
  return s;
}

describe('the gc plan', () => {
  const cases: [string, Record<string, number>, string[], { tooYoung: number; leased: number }][] = [
    ['what the build uses stays; an old unused blob and pack go', { b: 2 }, [`blob ${sha('b')}`, 'pack orphan.pack'], { tooYoung: 0, leased: 0 }],
    ['an unused blob younger than the grace period stays', { b: 0 }, ['pack orphan.pack'], { tooYoung: 1, leased: 0 }],
    ['an unused blob a pull in flight leased stays', { c: 5 }, ['pack orphan.pack'], { tooYoung: 0, leased: 1 }],
  ];
  it.each(cases)('%s', async (_name, unused, garbage, counts) => {
    const s = await store(unused);
    const plan = await planGc(s, DAY, NOW, { leased: new Set([`blob:${sha('c')}`]) });
    expect(plan.garbage.map((g) => g.what).sort()).toEqual(garbage.sort());
    expect(plan).toMatchObject({ ...counts, refusal: null });
  });

  it('more than half of the store as garbage is a refusal in the plan, unless forced', async () => {
    const many = Object.fromEntries('bcdefghijklmn'.split('').map((c) => [c, 3]));
    const s = await store(many);
    const plan = await planGc(s, DAY, NOW);
    expect(plan.refusal).toMatch(/^would delete 14 of 18 objects \(more than 50 %\); check the machines' state, then run with --force$/);
    expect((await planGc(s, DAY, NOW, { force: true })).refusal).toBeNull();
  });
});
