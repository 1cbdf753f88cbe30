/**
 * Tiny inputs that once cost hours or gigabytes. Every walk over what an archive controls is
 * linear: these run in seconds where the old code ran for minutes (the test's time limit is the
 * assertion; the figures are in BENCHMARKS.md).
 */
import { execSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gbp, snapshot, tempDir } from '../helpers/cli.js';
import { archiveMembers, tgz } from '../helpers/fixture-archive.js';
import { fixture } from '../helpers/fixtures.js';
import type { Member } from '../helpers/tar-builder.js';
import { streamTreeEntries, treeEntries, treePacks } from '../../src/records/tree-manifest.js';

describe('linear walks', () => {
  it('100,000 empty files in one repository: pull and fsck finish (fsck was quadratic in a pack)', async () => {
    const members = await archiveMembers(fixture('build-archive/build.tar.gz'));
    const many: Member[] = [{ path: 'repos/many/', type: 'Directory' }];
    for (let d = 0; d < 100; d++) {
      many.push({ path: `repos/many/d${d}/`, type: 'Directory' });
      for (let f = 0; f < 1000; f++) many.push({ path: `repos/many/d${d}/f${f}`, data: '' });
    }
    const dir = tempDir();
    const archive = join(dir, 'many.tar.gz');
    writeFileSync(archive, tgz([...members, ...many]));
    const store = join(dir, 'store');
    const pull = await gbp(['--store', store, '--json', 'pull', archive, '-m', 'web', '-b', '1', '--publish']);
    expect(pull.code, pull.stderr).toBe(0);
    expect(pull.json().trees.files).toBeGreaterThan(100_000);
    const fsck = await gbp(['--store', store, '--json', 'fsck']);
    expect(fsck.code, fsck.stdout).toBe(0);
    expect(fsck.json().checked.files).toBeGreaterThan(100_000);
  }, 60_000);
});

describe('tree manifests read from the store', () => {
  // 600 MiB of zeros in 600 KB: past what any tree's manifest inflates to
  const bomb = () => execSync('head -c 629145600 /dev/zero | gzip -1 -c', { maxBuffer: 1 << 24 });

  it('a manifest that inflates past 512 MiB is refused before it is inflated', async () => {
    const data = bomb();
    expect(() => [...treeEntries(data)]).toThrow(/tree manifest: inflates past 512 MiB/);
    // the streamed walk of a build page's diff counts what it inflates, and stops there
    const walk = async () => {
      for await (const _ of streamTreeEntries(data));
    };
    await expect(walk()).rejects.toThrow(/tree manifest: inflates past 512 MiB/);
    // and sync's read of the first line alone, which here never ends
    await expect(treePacks(data)).rejects.toThrow(/tree manifest: inflates past 512 MiB/);
  });

  it("a parent's manifest changed in place is neither reused nor inflated: the next build is stored, and the damage named", async () => {
    const store = tempDir();
    expect((await gbp(['--store', store, 'pull', fixture('build-archive/build.tar.gz'), '-m', 'web', '-b', '1'])).code).toBe(0);
    const build = JSON.parse(readFileSync(join(store, 'builds/web/1/build.json'), 'utf8'));
    const manifest: string = build.trees['repos/test_repo'].manifest;
    const key = `trees/${manifest.slice(0, 2)}/${manifest}.json.gz`;
    writeFileSync(join(store, key), bomb());
    // stored without reusing what the damaged manifest says; its page, a diff against it, is refused
    const r = await gbp(['--store', store, 'pull', fixture('build-archive/build2.tar.gz'), '-m', 'web', '-b', '2']);
    expect(r.code, r.stderr).toBe(6);
    expect(r.stderr).toContain(`${key}: tree manifest of web 1 does not match its SHA-256`);
    expect((await gbp(['--store', store, '--json', 'list', 'web'])).json().map((b: { id: string }) => b.id)).toEqual(['2', '1']);
    const check = await gbp(['--store', store, 'fsck']);
    expect(check.code).toBe(8);
    expect(check.stdout).toContain(`${key}: content does not match its name`);
    // nor does gc sweep packs on the word of a changed manifest
    const objects = () => Object.keys(snapshot(store)).filter((k) => /^(blobs|packs|trees)\//.test(k));
    const before = objects();
    const gc = await gbp(['--store', store, 'gc', '--grace', '0']);
    expect(gc.code).toBe(6);
    expect(gc.stderr).toContain('nothing collected');
    expect(objects()).toEqual(before);
  });
});
