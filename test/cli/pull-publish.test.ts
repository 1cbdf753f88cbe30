/**
 * The main job, as a CI job runs it: `gbp pull` real Portage-written build archives into a local
 * store, publish, pull the next build, roll back. Every check is one a user (or their emerge) makes.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { clientReads, instanceKey } from '../helpers/client.js';
import { gbp, snapshot, tempDir } from '../helpers/cli.js';
import { expected, fixture } from '../helpers/fixtures.js';

const BUILD1 = fixture('build-archive/build.tar.gz');
const BUILD2 = fixture('build-archive/build2.tar.gz');
const BASE = 'https://binhost.example.org/gbp';

const countBlobs = (store: string) =>
  readdirSync(join(store, 'blobs'), { recursive: true }).filter((p) => String(p).endsWith('.gpkg.tar')).length;

describe('a CI job publishes builds of one machine', () => {
  const store = tempDir();
  const g = (...args: string[]) => gbp(['--store', store, ...args]);

  it('stores and publishes the first build, and every client download matches its index', async () => {
    const r = await gbp(['--store', store, '--base-url', BASE, '--json', 'pull', BUILD1, '--machine', 'database', '--build', '1', '--publish']);
    expect(r.code, r.stderr).toBe(0);
    const out = r.json();
    expect(out).toMatchObject({ machine: 'database', id: '1', status: 'stored', published: true });
    expect(out.packages).toMatchObject({ total: 5, new: 5 });
    expect(out.trees.names).toEqual(['etc-portage', 'repos/test_repo', 'var-lib-portage']);
    // the archive's identity is what `sha256sum` says of the file, in the output and in the record
    const bytes = readFileSync(BUILD1);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    expect(out.archive).toMatchObject({ sha256, bytes: bytes.length, compression: 'gzip' });
    expect(JSON.parse(readFileSync(join(store, 'builds/database/1/build.json'), 'utf8')).archive).toMatchObject({ sha256, bytes: bytes.length });

    const index = clientReads(store, 'machines/database/binpkgs', BASE);
    const portage = expected.indexes['build-archive/build.tar.gz!binpkgs/Packages'];
    expect(index.entries.map(instanceKey)).toEqual(portage.entries.map(instanceKey));
    // header fields a --usepkgonly client without a profile needs are copied from the build's own
    for (const k of ['ARCH', 'ACCEPT_KEYWORDS', 'CHOST', 'USE_EXPAND', 'IUSE_IMPLICIT', 'PROFILE', 'FEATURES']) {
      expect(index.header[k]).toBe(portage.header[k]);
    }
    expect(index.header.URI).toBe(`${BASE}/blobs`);
    clientReads(store, 'builds/database/1/binpkgs', BASE);
  });

  it('stores the next build, writing only the packages that changed', async () => {
    const before = countBlobs(store);
    const r = await g('--json', 'pull', BUILD2, '-m', 'database', '-b', '2');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().packages).toMatchObject({ total: 6, new: 2 });
    expect(r.json().trees.newFiles).toBeLessThan(10); // 3 added files, 4 changed, of 34
    expect(countBlobs(store) - before).toBe(2); // motd-1.0-1 and libfoo-2.1.3-2

    // not published yet: clients still see build 1
    expect(clientReads(store, 'machines/database/binpkgs', BASE).entries).toHaveLength(5);
    const b1 = clientReads(store, 'builds/database/1/binpkgs', BASE);
    const b2 = clientReads(store, 'builds/database/2/binpkgs', BASE);
    // an unchanged package is the same instance in both builds (one download on a client)
    const shared = b2.entries.filter((e) => b1.entries.some((x) => x.SHA1 === e.SHA1));
    expect(shared).toHaveLength(4);
    for (const e of shared) expect(b1.entries.map(instanceKey)).toContain(instanceKey(e));
  });

  it('re-running the same pull is a quick no-op that changes nothing', async () => {
    const before = snapshot(store);
    const r = await g('--json', 'pull', BUILD2, '-m', 'database', '-b', '2');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().status).toBe('unchanged');
    expect(snapshot(store)).toEqual(before);
  });

  it('refuses a different archive under an existing build id, changing nothing', async () => {
    const before = snapshot(store);
    const r = await g('pull', BUILD1, '-m', 'database', '-b', '2');
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/build 2 of database already exists with different content/);
    expect(snapshot(store)).toEqual(before);
  });

  it('publishes the new build and rolls back, TIMESTAMP rising each time', async () => {
    const ts = () => Number(clientReads(store, 'machines/database/binpkgs', BASE).header.TIMESTAMP);
    const t1 = ts();
    let r = await g('publish', 'database', '@@');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/published 2 \(was 1\)/);
    expect(clientReads(store, 'machines/database/binpkgs', BASE).entries).toHaveLength(6);
    const t2 = ts();
    expect(t2).toBeGreaterThan(t1 + 5);

    r = await g('publish', 'database', '1');
    expect(r.code, r.stderr).toBe(0);
    expect(clientReads(store, 'machines/database/binpkgs', BASE).entries).toHaveLength(5);
    const t3 = ts();
    expect(t3).toBeGreaterThan(t2 + 5);

    const before = snapshot(store);
    r = await g('publish', 'database', '@');
    expect(r.stdout).toMatch(/already published/);
    expect(snapshot(store)).toEqual(before); // clients are not sent a new index for nothing
  });

  it('lists machines and builds, for people and for scripts', async () => {
    let r = await g('list');
    expect(r.stdout).toMatch(/^MACHINE\s+BUILDS\s+PUBLISHED/m);
    expect(r.stdout).toMatch(/^database\s+2\s+1\s+2\s/m);
    r = await g('--json', 'list', 'database');
    expect(r.json().map((b: { id: string; published: boolean }) => [b.id, b.published])).toEqual([
      ['2', false],
      ['1', true],
    ]);
    r = await g('--json', 'show', 'database', '@@');
    expect(r.json().build.parent).toBe('1');
    expect(r.json().build.binpkgs.packages).toHaveLength(6);
    r = await g('show', 'database', '2');
    expect(r.stdout).toMatch(/dev-libs\/libfoo-2\.1\.3\s+2\/2\.1\s+2\s/);
  });

  it('answers unknown machines and builds with exit 5 and a JSON error record', async () => {
    let r = await g('publish', 'nosuch', '1');
    expect(r.code).toBe(5);
    r = await g('--json', 'show', 'database', '99');
    expect(r.code).toBe(5);
    expect(r.json().error).toMatchObject({ code: 'not-found', exitCode: 5 });
  });
});

describe('archive sources and compressions', () => {
  const plain = join(tempDir(), 'build.tar');
  beforeAll(() => writeFileSync(plain, gunzipSync(readFileSync(BUILD1))));

  const variants: [string, () => Buffer | string][] = [
    ['plain tar', () => plain],
    ['zstd', () => execFileSync('zstd', ['-q', '-c', plain], { maxBuffer: 1 << 26 })],
    ['xz', () => execFileSync('xz', ['-c', plain], { maxBuffer: 1 << 26 })],
    ['bzip2', () => execFileSync('bzip2', ['-c', plain], { maxBuffer: 1 << 26 })],
  ];

  it.each(variants)('reads %s the same as gzip, detected from content', async (name, make) => {
    const made = make();
    let file = typeof made === 'string' ? made : join(tempDir(), 'archive.bin'); // no telling extension
    if (typeof made !== 'string') writeFileSync(file, made);
    const store = tempDir();
    const r = await gbp(['--store', store, '--json', 'pull', file, '-m', 'm', '-b', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().archive.compression).toBe(name === 'plain tar' ? 'none' : name);
    const index = clientReads(store, 'builds/m/1/binpkgs', 'http://localhost:8080');
    expect(index.entries.map(instanceKey)).toEqual(expected.indexes['build-archive/build.tar.gz!binpkgs/Packages'].entries.map(instanceKey));
  });

  it('reads from standard input', async () => {
    const store = tempDir();
    const r = await gbp(['--store', store, '--json', 'pull', '-', '-m', 'm', '-b', '7'], { input: readFileSync(BUILD2) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().archive.source).toBe('standard input');
    expect(clientReads(store, 'builds/m/7/binpkgs', 'http://localhost:8080').entries).toHaveLength(6);
  });

  it('shares packages and repository files across machines', async () => {
    const store = tempDir();
    expect((await gbp(['--store', store, 'pull', BUILD1, '-m', 'web', '-b', '1'])).code).toBe(0);
    const r = await gbp(['--store', store, '--json', 'pull', BUILD1, '-m', 'mail', '-b', '1']);
    expect(r.json().packages.new).toBe(0);
    expect(r.json().trees.newFiles).toBe(0);
    expect(countBlobs(store)).toBe(5);
  });

  it('explains a missing archive (exit 7) and a bad machine name (exit 2)', async () => {
    const store = tempDir();
    let r = await gbp(['--store', store, 'pull', '/nonexistent.tar.gz', '-m', 'm', '-b', '1']);
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/\/nonexistent\.tar\.gz: cannot open the archive: ENOENT/);
    r = await gbp(['--store', store, 'pull', BUILD1, '-m', '../evil', '-b', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/invalid machine name/);
    expect(snapshot(store)).toEqual({});
  });
});
