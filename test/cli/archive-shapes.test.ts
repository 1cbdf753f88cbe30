/**
 * Shapes real archives have that a strict reader must still accept, and where their content ends
 * up: hard links inside a tree, relative symlinks, names longer than 100 bytes (pax), aux/ data,
 * repos/gbp.json, an archive without directory members.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeTree } from '../../src/records/tree-manifest.js';
import { gbp, tempDir } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';
import { tarArchive, type Member } from '../helpers/tar-builder.js';
import { archiveMembers } from '../helpers/fixture-archive.js';

const members = () => archiveMembers(fixture('build-archive/build.tar.gz'));

describe('legitimate archive shapes', () => {
  it('keeps hard links, symlinks, long names, aux/ and repos/gbp.json', async () => {
    const long = `repos/test_repo/metadata/${'x'.repeat(120)}/deep-file`;
    const ms = [
      ...(await members()),
      { path: 'repos/test_repo/licenses/GPL-2-copy', type: 'Link' as const, linkpath: 'repos/test_repo/licenses/GPL-2' },
      { path: 'repos/test_repo/profiles/latest', type: 'SymbolicLink' as const, linkpath: 'default/linux/x86/test_profile' },
      { path: long, data: 'long name' },
      { path: 'repos/gbp.json', data: '{"machine":"web","build":"1"}' },
      { path: 'aux/', type: 'Directory' as const },
      { path: 'aux/plugin/', type: 'Directory' as const },
      { path: 'aux/plugin/data.txt', data: 'plugin data' },
    ];
    const file = join(tempDir(), 'shapes.tar.gz');
    writeFileSync(file, gzipSync(tarArchive(ms)));
    const store = tempDir();
    const r = await gbp(['--store', store, '--json', 'pull', file, '-m', 'web', '-b', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().trees.names).toEqual(['etc-portage', 'repos', 'repos/test_repo', 'var-lib-portage']);

    const build = JSON.parse(readFileSync(join(store, 'builds/web/1/build.json'), 'utf8'));
    const tree = (name: string) => decodeTree(readFileSync(join(store, 'trees', build.trees[name].manifest.slice(0, 2), `${build.trees[name].manifest}.json.gz`)));
    const repo = tree('repos/test_repo');
    const byPath = new Map(repo.map((e) => [e.path, e]));
    expect(byPath.get('licenses/GPL-2-copy')).toMatchObject({ type: 'f', sha256: byPath.get('licenses/GPL-2')!.sha256, size: 70 });
    expect(byPath.get('profiles/latest')).toMatchObject({ type: 'l', target: 'default/linux/x86/test_profile' });
    expect(byPath.get(long.slice('repos/test_repo/'.length))).toMatchObject({ type: 'f', size: 9 });
    expect(tree('repos').map((e) => e.path)).toEqual(['gbp.json']);
    // aux/ files are the build's artifacts, each at its own URL (test/cli/artifacts.test.ts)
    expect(build.artifacts).toMatchObject([{ name: 'plugin/data.txt', size: 11 }]);
    expect(readFileSync(join(store, 'builds/web/1/artifacts/plugin/data.txt'), 'utf8')).toBe('plugin data');
    expect(tree('etc-portage').find((e) => e.path === 'make.profile')).toMatchObject({
      type: 'l',
      target: '../repos/test_repo/profiles/default/linux/x86/test_profile',
    });

    // every stored file reads back, by pack and offset, as the bytes the archive carried
    const original = new Map(ms.filter((m) => m.type === undefined || m.type === 'File').map((m) => [m.path.replace(/^\.\//, ''), Buffer.from(m.data ?? '')]));
    for (const e of repo.filter((x) => x.type === 'f' && !x.path.endsWith('-copy'))) {
      const pack = readFileSync(join(store, 'packs', e.pack!.slice(0, 2), `${e.pack}.pack`));
      expect(pack.subarray(e.offset, e.offset + e.size).equals(original.get(`repos/test_repo/${e.path}`)!), e.path).toBe(true);
    }
  });

  it('stores the same trees whatever order the sections come in', async () => {
    const all = await members();
    const section = (m: Member) => m.path.replace(/^\.\//, '').split('/')[0];
    const isTree = (m: Member) => ['repos', 'etc-portage', 'var-lib-portage'].includes(section(m));
    const root = all.filter((m) => section(m) === '' || section(m) === '.');
    const trees = all.filter(isTree);
    const binpkgs = all.filter((m) => section(m) === 'binpkgs');
    expect(trees.length).toBeGreaterThan(20);
    expect(binpkgs.length).toBeGreaterThan(5);
    // late: the etc-portage tree, and the last files of a tree begun before the packages
    const repoFiles = trees.filter((m) => section(m) === 'repos' && (m.type === undefined || m.type === 'File'));
    const late = [...trees.filter((m) => section(m) === 'etc-portage'), ...repoFiles.slice(-3)];
    const orders: Record<string, Member[]> = {
      'trees first': [...root, ...trees, ...binpkgs],
      'packages first': [...root, ...binpkgs, ...trees],
      'tree members after the packages': [...root, ...trees.filter((m) => !late.includes(m)), ...binpkgs, ...late],
    };
    const stored: Record<string, { manifests: Record<string, string>; entries: Record<string, unknown[]> }> = {};
    for (const [name, ms] of Object.entries(orders)) {
      const file = join(tempDir(), 'ordered.tar.gz');
      writeFileSync(file, gzipSync(tarArchive(ms)));
      const store = tempDir();
      const r = await gbp(['--store', store, '--json', 'pull', file, '-m', 'web', '-b', '1']);
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
      const build = JSON.parse(readFileSync(join(store, 'builds/web/1/build.json'), 'utf8'));
      const manifests: Record<string, string> = {};
      const entries: Record<string, unknown[]> = {};
      for (const [tree, ref] of Object.entries(build.trees as Record<string, { manifest: string }>)) {
        manifests[tree] = ref.manifest;
        const decoded = decodeTree(readFileSync(join(store, 'trees', ref.manifest.slice(0, 2), `${ref.manifest}.json.gz`)));
        entries[tree] = decoded.map((e) => [e.path, e.type, e.mode, e.mtime, e.size, e.sha256, e.target]);
        // every file reads back from the pack and offset its manifest names
        for (const e of decoded.filter((x) => x.type === 'f')) {
          const pack = readFileSync(join(store, 'packs', e.pack!.slice(0, 2), `${e.pack}.pack`));
          expect(createHash('sha256').update(pack.subarray(e.offset, e.offset + e.size)).digest('hex'), `${name}: ${tree}/${e.path}`).toBe(e.sha256);
        }
      }
      stored[name] = { manifests, entries };
    }
    expect(Object.keys(stored['trees first'].manifests).sort()).toEqual(['etc-portage', 'repos/test_repo', 'var-lib-portage']);
    // the same files in the same order: the same packs and the same manifests
    expect(stored['packages first'].manifests).toEqual(stored['trees first'].manifests);
    // files that came last are in a pack of their own: other locations, the same trees
    expect(stored['tree members after the packages'].entries).toEqual(stored['trees first'].entries);
    expect(stored['tree members after the packages'].manifests['repos/test_repo']).not.toBe(stored['trees first'].manifests['repos/test_repo']);
  });

  it('accepts an archive without directory members', async () => {
    const ms = (await members()).filter((m) => m.type !== 'Directory');
    const file = join(tempDir(), 'nodirs.tar.gz');
    writeFileSync(file, gzipSync(tarArchive(ms)));
    const r = await gbp(['--store', tempDir(), '--json', 'pull', file, '-m', 'web', '-b', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().packages.total).toBe(5);
  });
});
