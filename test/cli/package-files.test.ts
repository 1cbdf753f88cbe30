/**
 * gbp files / gbp which on Portage-written packages: each new package's file list is written once
 * when it is stored (checked against GNU tar's own listing of the image), reused by every build
 * that reuses the package, made on demand where it is missing, found by path or glob across
 * machines and builds; an XPAK is listed from its tar part. (A package whose image is hostile:
 * test/hostile/package-images.test.ts.)
 */
import { execFileSync, execSync } from 'node:child_process';
import { readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gbp, tempDir } from '../helpers/cli.js';
import { archiveMembers, unsignedVariantsArchive } from '../helpers/fixture-archive.js';
import { fixture } from '../helpers/fixtures.js';

const BUILD1 = fixture('build-archive/build.tar.gz');
const BUILD2 = fixture('build-archive/build2.tar.gz');

/** GNU tar's listing of a GPKG's image, as installed paths (directories left out). */
function gnuTarListing(gpkg: Buffer): string[] {
  const dir = tempDir();
  const pkg = join(dir, 'p.gpkg.tar');
  writeFileSync(pkg, gpkg);
  const image = execFileSync('tar', ['-tf', pkg]).toString().split('\n').find((n) => /\/image\.tar\.zst$/.test(n))!;
  const lines = execSync(`tar -xOf ${pkg} ${image} | zstd -dc | tar -tv`).toString().trim().split('\n');
  return lines
    .filter((l) => !l.startsWith('d'))
    .map((l) => l.split(/\s+/).slice(5).join(' ').replace(/ -> .*$/, '').replace(/ link to .*$/, ''))
    .map((n) => `/${n.replace(/^image\//, '')}`)
    .sort();
}

const blobFileLists = (store: string) =>
  readdirSync(join(store, 'blobs'), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name === 'files.txt.gz')
    .map((e) => join(e.parentPath, e.name));

describe('gbp files and gbp which', () => {
  it("lists a build's files as GNU tar lists its packages' images, written once per package", async () => {
    const store = tempDir();
    const pulled = await gbp(['--store', store, '--json', 'pull', BUILD1, '-m', 'web', '-b', '1', '--publish']);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.json().fileLists).toEqual({ listed: 5, unavailable: 0 });

    const r = await gbp(['--store', store, '--json', 'files', 'web', '1']);
    expect(r.code, r.stderr).toBe(0);
    const got = r.json();
    expect(got.unavailable).toEqual([]);
    const members = await archiveMembers(BUILD1);
    for (const m of members.filter((m) => m.path.endsWith('.gpkg.tar'))) {
      const name = m.path.split('/').pop()!;
      const cpv = `${m.path.split('/')[1]}/${name.replace(/-\d+\.gpkg\.tar$/, '')}`;
      const buildId = /-(\d+)\.gpkg\.tar$/.exec(name)![1];
      const mine = got.files.filter((f: any) => f.package === cpv && f.buildId === buildId).map((f: any) => f.path).sort();
      expect(mine, m.path).toEqual(gnuTarListing(m.data as Buffer));
      expect(mine.length).toBeGreaterThan(0);
    }
    const link = got.files.find((f: any) => f.path === '/usr/lib/libfoo.so');
    expect(link).toMatchObject({ type: 'symlink', target: 'libfoo.so.2' });

    // a glob: a file name anywhere, or a path
    const so = (await gbp(['--store', store, '--json', 'files', 'web', '@', '*.so*'])).json().files.map((f: any) => f.path);
    expect(so.length).toBeGreaterThan(0);
    expect(so.every((p: string) => /\.so/.test(p.split('/').pop()!))).toBe(true);
    const bin = (await gbp(['--store', store, '--json', 'files', 'web', '1', '/usr/bin/*'])).json().files.map((f: any) => f.path);
    expect(new Set(bin)).toEqual(new Set(['/usr/bin/hello', '/usr/bin/fixture-tool']));

    // the next build reuses four packages: only the new ones are listed, the others' lists stay as written
    const before = new Map(blobFileLists(store).map((f) => [f, statSync(f).mtimeMs]));
    const next = await gbp(['--store', store, '--json', 'pull', BUILD2, '-m', 'web', '-b', '2']);
    expect(next.json().fileLists).toEqual({ listed: next.json().packages.new, unavailable: 0 });
    for (const [f, mtime] of before) expect(statSync(f).mtimeMs, f).toBe(mtime);
    expect(blobFileLists(store).length).toBe(before.size + next.json().packages.new);
    const other = await gbp(['--store', store, '--json', 'pull', BUILD1, '-m', 'db', '-b', '1']);
    expect(other.json().fileLists).toBeUndefined(); // nothing new: nothing listed
  });

  it('names the packages and builds that ship a path, across machines or in one', async () => {
    const store = tempDir();
    for (const [m, a, id, extra] of [
      ['web', BUILD1, '1', []],
      ['web', BUILD2, '2', ['--publish']],
      ['db', BUILD1, '7', ['--publish']],
    ] as const) expect((await gbp(['--store', store, 'pull', a, '-m', m, '-b', id, ...extra])).code).toBe(0);
    const r = await gbp(['--store', store, '--json', 'which', '/usr/bin/hello']);
    expect(r.code, r.stderr).toBe(0);
    const rows = r.json();
    expect(rows.map((x: any) => [x.package, x.buildId])).toEqual([
      ['app-misc/hello-1.0', '2'],
      ['app-misc/hello-1.0', '1'],
    ]);
    const builds = (row: any) => row.builds.map((b: any) => `${b.machine} ${b.id}${b.published ? '*' : ''}`).sort();
    expect(builds(rows[0])).toEqual(['db 7*', 'web 1', 'web 2*']);
    const inDb = (await gbp(['--store', store, '--json', 'which', 'usr/bin/hello', 'db'])).json();
    expect(inDb.flatMap((x: any) => x.builds.map((b: any) => b.machine))).toEqual(['db', 'db']);
    const text = await gbp(['--store', store, 'which', 'libfoo.so*']);
    expect(text.stdout).toMatch(/dev-libs\/libfoo-2\.1\.3 \(BUILD_ID \d\): \/usr\/lib\/libfoo\.so, \/usr\/lib\/libfoo\.so\.2, \/usr\/lib\/libfoo\.so\.2\.1\.3\n {2}in /);
    const none = await gbp(['--store', store, 'which', '/usr/bin/nothing-ships-this']);
    expect([none.code, none.stdout]).toEqual([0, 'no package ships /usr/bin/nothing-ships-this\n']);
    expect((await gbp(['--store', store, 'which', '/x', 'no-such-machine'])).code).toBe(5);
    expect((await gbp(['--store', store, 'files', 'web', '99'])).code).toBe(5);
  });

  it('makes a missing list on demand and keeps it; lists an XPAK from its tar part', async () => {
    const archive = await unsignedVariantsArchive();
    const store = tempDir();
    expect((await gbp(['--store', store, 'pull', archive, '-m', 'web', '-b', '1'])).code).toBe(0);
    // a store from before file lists: none are there
    for (const f of blobFileLists(store)) rmSync(f);
    const r = await gbp(['--store', store, '--json', 'files', 'web', '1', 'hello']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().files.map((f: any) => `${f.package} ${f.buildId} ${f.path}`).sort()).toEqual(['app-misc/hello-1.0 1 /usr/bin/hello', 'app-misc/hello-1.0 2 /usr/bin/hello']);
    expect(blobFileLists(store).length).toBe(5);
  });

});
