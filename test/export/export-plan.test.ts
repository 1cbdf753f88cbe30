/**
 * `gbp export-rsync --dry-run`: every target's change worked out against what clients get now,
 * with nothing written. And the pure count it reports, as a table.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { countChanges } from '../../src/export/apply-tree.js';
import type { TreeEntry } from '../../src/records/tree-manifest.js';
import { gbp, tempDir } from '../helpers/cli.js';
import { listTree } from '../helpers/tree-compare.js';
import { existsSync } from 'node:fs';
import { fixture } from '../helpers/fixtures.js';

const f = (path: string, sha: string, mtime = 1): TreeEntry => ({ path, type: 'f', mode: 0o644, mtime, size: 1, sha256: sha.repeat(64), xxh64: null, pack: 'p', offset: 0, target: null });
const d = (path: string): TreeEntry => ({ path, type: 'd', mode: 0o755, mtime: 1, size: 0, sha256: null, xxh64: null, pack: null, offset: 0, target: null });
const l = (path: string, target: string): TreeEntry => ({ path, type: 'l', mode: 0o777, mtime: 1, size: 0, sha256: null, xxh64: null, pack: null, offset: 0, target });

describe('what applying a tree over another changes', () => {
  const cases: [string, TreeEntry[] | null, TreeEntry[], { added: number; changed: number; removed: number }][] = [
    ['into nothing: everything is added', null, [d('.'), f('a', '1'), l('b', 'a')], { added: 3, changed: 0, removed: 0 }],
    ['the same tree: nothing', [d('.'), f('a', '1')], [d('.'), f('a', '1')], { added: 0, changed: 0, removed: 0 }],
    ['new content', [d('.'), f('a', '1')], [d('.'), f('a', '2')], { added: 0, changed: 1, removed: 0 }],
    ['a new mtime alone (rsync would send it)', [f('a', '1', 1)], [f('a', '1', 2)], { added: 0, changed: 1, removed: 0 }],
    ['a link retargeted', [l('b', 'a')], [l('b', 'c')], { added: 0, changed: 1, removed: 0 }],
    ['a file gone, another new', [f('a', '1')], [f('c', '1')], { added: 1, changed: 0, removed: 1 }],
  ];
  it.each(cases)('%s', (_name, current, target, want) => expect(countChanges(current, target)).toEqual(want));
});

describe('gbp export-rsync --dry-run', () => {
  it('says what the next export would change and writes nothing', async () => {
    const store = tempDir();
    const dest = join(tempDir(), 'export');
    const g = (...a: string[]) => gbp(['--store', store, ...a]);
    expect((await g('pull', fixture('build-archive/build.tar.gz'), '-m', 'web', '-b', '1', '--publish')).code).toBe(0);
    const first = await g('--json', 'export-rsync', '--dest', dest, '--dry-run');
    expect(first.code, first.stderr).toBe(0);
    expect(existsSync(dest)).toBe(false); // not even the destination was made
    expect(first.json().targets.map((t: { module: string; link: string; status: string }) => `${t.module}/${t.link} ${t.status}`).sort()).toEqual([
      'etc-portage/web created',
      'repos/web/test_repo created',
      'var-lib-portage/web created',
    ]);
    expect((await g('export-rsync', '--dest', dest)).code).toBe(0);
    expect((await g('pull', fixture('build-archive/build2.tar.gz'), '-m', 'web', '-b', '2', '--publish')).code).toBe(0);
    const before = listTree(dest, { mtimes: true });
    const plan = await g('--json', 'export-rsync', '--dest', dest, '--dry-run');
    expect(listTree(dest, { mtimes: true })).toEqual(before);
    const repo = plan.json().targets.find((t: { link: string }) => t.link === 'web/test_repo');
    // build 2 adds app-misc/motd (a directory and 2 files) and its md5-cache entry, and changes
    // libbase's ebuild, its md5-cache entry and timestamp.chk
    expect(repo).toMatchObject({ status: 'updated', build: '2', added: 4, changed: 3, removed: 0 });
    const text = await g('export-rsync', '--dest', dest, '--dry-run');
    expect(text.stdout).toMatch(/^repos\/web\/test_repo: would be updated from web 2 \(\+4 ~3 -0\)$/m);
    // the real export then makes that change (its counts are of the generation it writes, here a
    // new one: the plan's are against what clients hold)
    const real = (await g('--json', 'export-rsync', '--dest', dest)).json().targets.find((t: { link: string }) => t.link === 'web/test_repo');
    expect(real).toMatchObject({ status: 'updated', build: '2' });
    expect((await g('--json', 'export-rsync', '--dest', dest, '--dry-run')).json().targets.every((t: { status: string }) => t.status === 'unchanged')).toBe(true);
  });
});
