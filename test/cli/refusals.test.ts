/**
 * Everything spec/build-archive.md says a well-behaved publisher must refuse, each built here from
 * the real Portage-written archive with one thing wrong. For each: a non-zero exit, an error naming
 * the member and the reason, and a store exactly as it was, with the good build still published.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { gbp, snapshot, tempDir } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';
import { tarArchive, type Member } from '../helpers/tar-builder.js';
import { archiveMembers } from '../helpers/fixture-archive.js';
import { writeGpkg } from '../../scripts/fixtures/gpkg-writer.js';
import { spawnSync } from 'node:child_process';

const fixtureMembers = () => archiveMembers(fixture('build-archive/build.tar.gz'));

const digest = (alg: string, b: Buffer) => createHash(alg).update(b).digest('hex');

/** Rewrites binpkgs/Packages so that the entry for PATH describes `bytes` (size, MD5, SHA1). */
function describeInIndex(members: Member[], path: string, bytes: Buffer): void {
  const idx = members.find((m) => m.path === 'binpkgs/Packages')!;
  const blocks = String(idx.data).split('\n\n');
  idx.data = blocks
    .map((b) =>
      b.includes(`PATH: ${path}\n`)
        ? b.replace(/^SIZE: .*$/m, `SIZE: ${bytes.length}`).replace(/^MD5: .*$/m, `MD5: ${digest('md5', bytes)}`).replace(/^SHA1: .*$/m, `SHA1: ${digest('sha1', bytes)}`)
        : b,
    )
    .join('\n\n');
}

interface Case {
  name: string;
  /** Member named in the message, and the reason. */
  error: RegExp;
  exit?: number;
  args?: string[];
  archive: (members: Member[]) => Buffer;
}

const tgz = (members: Member[]) => gzipSync(tarArchive(members));

/** Adds a package (and its Packages entry) to the members. */
function withPackage(members: Member[], pkg: { path: string; cpv: string; buildId: string; bytes: Buffer }): Member[] {
  const idx = members.find((m) => m.path === 'binpkgs/Packages')!;
  const stanza = [`BUILD_ID: ${pkg.buildId}`, `CPV: ${pkg.cpv}`, `MD5: ${digest('md5', pkg.bytes)}`, `PATH: ${pkg.path}`, `SHA1: ${digest('sha1', pkg.bytes)}`, `SIZE: ${pkg.bytes.length}`];
  idx.data = `${String(idx.data).replace(/\n*$/, '\n\n')}${stanza.join('\n')}\n\n`;
  return [...members, { path: `binpkgs/${pkg.path}`, data: pkg.bytes }];
}

const evilMetadata = (overrides: Record<string, string>) => ({
  CATEGORY: 'app-misc', PF: 'evil-1', SLOT: '0', EAPI: '8', KEYWORDS: 'x86', BUILD_TIME: '1795317379', BUILD_ID: '1', ...overrides,
});
const evilPackage = (buildId: string, extra: Partial<Parameters<typeof writeGpkg>[0]> = {}) =>
  writeGpkg({ base: `evil-1-${buildId.replace(/\W/g, '_')}`, metadata: evilMetadata({ BUILD_ID: buildId }), image: { 'usr/bin/evil': Buffer.from('x') }, mtime: 1795317379, ...extra });
const withExtra = (extra: Member[]) => (members: Member[]) => tgz([...members, ...extra]);
const hello = 'binpkgs/app-misc/hello/hello-1.0-1.gpkg.tar';

const cases: Case[] = [
  { name: 'an absolute path', error: /\/etc\/cron\.d\/evil: absolute path/, archive: withExtra([{ path: '/etc/cron.d/evil', data: 'x' }]) },
  { name: "a '..' segment", error: /repos\/\.\.\/\.\.\/root\/x: path contains a '\.\.' segment/, archive: withExtra([{ path: 'repos/../../root/x', data: 'x' }]) },
  { name: 'a NUL in a name', error: /NUL byte/, archive: withExtra([{ path: `repos/test_repo/${'n'.repeat(100)}\0.ebuild`, data: 'x' }]) },
  {
    name: 'names that differ only after Unicode normalisation',
    error: /repos\/test_repo\/cafe\u0301: collides with 'repos\/test_repo\/caf\u00e9' after Unicode normalisation/,
    archive: withExtra([
      { path: 'repos/test_repo/caf\u00e9', data: 'a' },
      { path: 'repos/test_repo/cafe\u0301', data: 'b' },
    ]),
  },
  {
    name: 'a symlink out of the archive',
    error: /repos\/test_repo\/evil: symbolic link to '\.\.\/\.\.\/\.\.\/etc\/shadow' points outside the archive/,
    archive: withExtra([{ path: 'repos/test_repo/evil', type: 'SymbolicLink', linkpath: '../../../etc/shadow' }]),
  },
  {
    name: 'an absolute symlink',
    error: /etc-portage\/make\.profile: symbolic link to '\/var\/db\/repos/,
    archive: (ms) => tgz(ms.map((m) => (m.path.endsWith('make.profile') ? { ...m, linkpath: '/var/db/repos/test_repo/profiles/default' } : m))),
  },
  {
    name: 'a member below a symlink',
    error: /repos\/test_repo\/lnk\/passwd: is below 'repos\/test_repo\/lnk', which is not a directory/,
    archive: withExtra([
      { path: 'repos/test_repo/lnk', type: 'SymbolicLink', linkpath: 'licenses' },
      { path: 'repos/test_repo/lnk/passwd', data: 'x' },
    ]),
  },
  {
    name: 'a hard link to a file outside the archive',
    error: /repos\/test_repo\/hl: hard link to 'etc\/passwd', which is not an earlier file/,
    archive: withExtra([{ path: 'repos/test_repo/hl', type: 'Link', linkpath: 'etc/passwd' }]),
  },
  { name: 'a character device', error: /repos\/test_repo\/null: char-device entries are not allowed/, archive: withExtra([{ path: 'repos/test_repo/null', type: 'CharacterDevice' }]) },
  { name: 'a FIFO', error: /etc-portage\/pipe: fifo entries are not allowed/, archive: withExtra([{ path: 'etc-portage/pipe', type: 'FIFO' }]) },
  { name: 'an unexpected top-level entry', error: /usr\/bin\/evil: unexpected top-level entry/, archive: withExtra([{ path: 'usr/bin/evil', data: 'x' }]) },
  { name: 'a member that appears twice', error: /etc-portage\/make\.conf: appears twice/, archive: withExtra([{ path: 'etc-portage/make.conf', data: 'x' }]) },
  {
    name: 'a truncated gzip stream',
    error: /\(archive\): the gzip stream is corrupt or truncated/,
    archive: (ms) => tgz(ms).subarray(0, 30000),
  },
  {
    name: 'a corrupt gzip stream',
    error: /\(archive\): the gzip stream is corrupt or truncated/,
    archive: (ms) => {
      const b = tgz(ms);
      for (let i = 20000; i < 20100; i++) b[i] ^= 0x5a;
      return b;
    },
  },
  {
    name: 'a tar that ends early',
    error: /the archive ends inside this member|without its end-of-archive marker/,
    archive: (ms) => gzipSync(tarArchive(ms).subarray(0, 80 * 512)),
  },
  { name: 'something that is not an archive', error: /\(archive\): not a tar archive/, archive: () => Buffer.from('<html>Jenkins says: 502 Bad Gateway</html>'.repeat(20)) },
  {
    name: 'a package whose bytes differ from its Packages entry',
    error: new RegExp(`${hello}: does not match binpkgs/Packages: `),
    archive: (ms) => tgz(ms.map((m) => (m.path === hello ? { ...m, data: Buffer.concat([Buffer.from('X'), (m.data as Buffer).subarray(1)]) } : m))),
  },
  {
    name: 'a package listed in Packages but missing from the archive',
    error: /binpkgs\/app-misc\/tools\/tools-0\.5-1\.gpkg\.tar: listed in binpkgs\/Packages but not in the archive/,
    archive: (ms) => tgz(ms.filter((m) => !m.path.endsWith('tools-0.5-1.gpkg.tar'))),
  },
  {
    name: 'a package whose metadata cannot be read',
    error: new RegExp(`${hello}: cannot read the package's metadata`),
    archive: (ms) => {
      const junk = Buffer.alloc(20480, 0x42);
      describeInIndex(ms, 'app-misc/hello/hello-1.0-1.gpkg.tar', junk);
      return tgz(ms.map((m) => (m.path === hello ? { ...m, data: junk } : m)));
    },
  },
  {
    // the second copy waits for the first one's lookup, which fails: the pull must end, not hang
    name: 'the same unreadable package under two names',
    error: new RegExp(`${hello}: cannot read the package's metadata`),
    archive: (ms) => {
      const junk = Buffer.alloc(20480, 0x43);
      describeInIndex(ms, 'app-misc/hello/hello-1.0-1.gpkg.tar', junk);
      const withCopy = withPackage(ms, { path: 'app-misc/hello/hello-1.0-9.gpkg.tar', cpv: 'app-misc/hello-1.0', buildId: '9', bytes: junk });
      return tgz(withCopy.map((m) => (m.path === hello ? { ...m, data: junk } : m)));
    },
  },
  {
    name: 'a missing binpkgs/Packages',
    error: /binpkgs\/Packages: missing/,
    archive: (ms) => tgz(ms.filter((m) => m.path !== 'binpkgs/Packages')),
  },
  {
    name: 'a build that did not finish (no var-lib-portage/)',
    error: /var-lib-portage\/: missing from the archive/,
    archive: (ms) => tgz(ms.filter((m) => !m.path.startsWith('./var-lib-portage'))),
  },
  // symlinks are resolved against the whole tree, whatever the member order (incident: a chain
  // escaped and export-rsync wrote a setuid file beside its destination)
  {
    name: 'a symlink chain that climbs out through another link (a → .., b → a/../..)',
    error: /etc-portage\/b: .*resolves outside the archive/,
    archive: withExtra([
      { path: 'etc-portage/a', type: 'SymbolicLink', linkpath: '..' },
      { path: 'etc-portage/b', type: 'SymbolicLink', linkpath: 'a/../..' },
    ]),
  },
  {
    name: 'a repository symlink that leaves its repository',
    error: /repos\/test_repo\/up: symbolic link to '\.\.' resolves outside repos\/test_repo/,
    archive: withExtra([{ path: 'repos/test_repo/up', type: 'SymbolicLink', linkpath: '..' }]),
  },
  {
    name: 'a member listed before the symlink it lies below',
    error: /repos\/test_repo\/lnk: is a symlink, but the archive has members below it/,
    archive: withExtra([
      { path: 'repos/test_repo/lnk/passwd', data: 'x', mode: 0o4755 },
      { path: 'repos/test_repo/lnk', type: 'SymbolicLink', linkpath: 'licenses' },
    ]),
  },
  {
    name: 'a symlink loop',
    error: /repos\/test_repo\/(a|b): .*symbolic link loop/,
    archive: withExtra([
      { path: 'repos/test_repo/a', type: 'SymbolicLink', linkpath: 'b/x' },
      { path: 'repos/test_repo/b', type: 'SymbolicLink', linkpath: 'a/y' },
    ]),
  },
  {
    name: 'a control character in a name',
    error: /name contains the control character 0x1b/,
    archive: withExtra([{ path: 'repos/test_repo/\x1b[31mred', data: 'x' }]),
  },
  {
    name: 'a path segment longer than NAME_MAX',
    error: /a path segment is longer than 255 bytes/,
    archive: withExtra([{ path: `repos/test_repo/${'n'.repeat(300)}`, data: 'x' }]),
  },
  {
    name: 'directories nested past PATH_MAX (100,000 of them once took minutes: the ancestor walk was quadratic)',
    error: /name is longer than 4096 bytes/,
    archive: (ms) => tgz([...ms, ...Array.from({ length: 450 }, (_, i) => ({ path: `repos/test_repo/${'directory/'.repeat(i + 1)}`, type: 'Directory' as const }))]),
  },
  {
    name: 'a stray zero block in the middle of the archive',
    error: /a lone zero block at byte \d+, in the middle of the archive/,
    archive: (ms) => gzipSync(Buffer.concat([tarArchive(ms.slice(0, 20), { endMarker: false }), Buffer.alloc(512), tarArchive(ms.slice(20))])),
  },
  {
    name: 'a second archive after the end-of-archive marker',
    error: /data after the end-of-archive marker/,
    archive: (ms) => gzipSync(Buffer.concat([tarArchive(ms), tarArchive([{ path: 'repos/test_repo/late', data: 'x' }])])),
  },
  // a package's own metadata names its file: BUILD_ID and PF become a path
  ...['1/x', '..', '#', '1 2'].map((id) => ({
    name: `a package whose metadata BUILD_ID is '${id}'`,
    error: /evil-1-1\.gpkg\.tar: .*BUILD_ID .* is not a number/,
    archive: (ms: Member[]) => tgz(withPackage(ms, { path: 'app-misc/evil/evil-1-1.gpkg.tar', cpv: 'app-misc/evil-1', buildId: '1', bytes: evilPackage(id) })),
  })),
  {
    name: 'GPKG metadata that is a zstd bomb (a 100 MB frame in 3 KB)',
    error: /evil-1-1\.gpkg\.tar: .*over the 16777216-byte limit for package metadata/,
    archive: (ms) => {
      const bomb = spawnSync('zstd', ['-q', '-19', '-c'], { input: Buffer.alloc(100 << 20), maxBuffer: 1 << 20 }).stdout;
      const bytes = evilPackage('1', { rawMetadata: { ext: 'zst', data: bomb } });
      return tgz(withPackage(ms, { path: 'app-misc/evil/evil-1-1.gpkg.tar', cpv: 'app-misc/evil-1', buildId: '1', bytes }));
    },
  },
  {
    name: 'an archive over the size limit',
    error: /the archive holds more than 65536 bytes \(the configured limit, --max-size\)/,
    args: ['--max-size', '64K'],
    archive: (ms) => tgz(ms),
  },
];

describe('hostile and broken archives are refused and leave no trace', () => {
  const store = tempDir();
  let members: Member[];

  beforeAll(async () => {
    members = await fixtureMembers();
    const ok = await gbp(['--store', store, 'pull', fixture('build-archive/build.tar.gz'), '-m', 'web', '-b', '1', '--publish']);
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('the unmodified members make a good archive (the cases below differ by one thing)', async () => {
    const dir = tempDir();
    const file = join(dir, 'rebuilt.tar.gz');
    writeFileSync(file, tgz(members));
    const r = await gbp(['--store', tempDir(), 'pull', file, '-m', 'web', '-b', '1']);
    expect(r.code, r.stderr).toBe(0);
  });

  it.each(cases.map((c) => [c.name, c]))('%s', async (_name, c) => {
    const copy = members.map((m) => ({ ...m }));
    const file = join(tempDir(), 'bad.tar.gz');
    writeFileSync(file, c.archive(copy));
    const before = snapshot(store);
    const r = await gbp(['--store', store, '--json', 'pull', file, '-m', 'web', '-b', '2', '--publish', ...(c.args ?? [])]);
    expect(r.stderr).toMatch(c.error);
    expect(r.code).toBe(c.exit ?? 3);
    expect(r.json().error.code).toMatch(/^archive-/);
    expect(snapshot(store)).toEqual(before);
  });

  it('a good build is never harmed: build 1 is still published and pullable again', async () => {
    const r = await gbp(['--store', store, '--json', 'list', 'web']);
    expect(r.json()).toMatchObject([{ id: '1', published: true }]);
    const again = await gbp(['--store', store, '--json', 'pull', fixture('build-archive/build2.tar.gz'), '-m', 'web', '-b', '2']);
    expect(again.code, again.stderr).toBe(0);
  });
});

describe('a pull that dies leaves nothing a later pull trusts', () => {
  it('SIGKILL in the middle of a pull: no build, no state change, and the next pull succeeds', async () => {
    const { spawn } = await import('node:child_process');
    const { GBP } = await import('../helpers/cli.js');
    const store = tempDir();
    // A slow source: the archive arrives on stdin and we kill the process while it reads.
    const child = spawn(process.execPath, [GBP, '--store', store, 'pull', '-', '-m', 'web', '-b', '1', '--publish'], { stdio: ['pipe', 'ignore', 'ignore'] });
    const closed = new Promise((r) => child.on('close', r));
    const archive = readFileSync(fixture('build-archive/build.tar.gz'));
    child.stdin.on('error', () => {});
    child.stdin.write(archive.subarray(0, 20000));
    await new Promise((r) => setTimeout(r, 500));
    child.kill('SIGKILL');
    await closed;
    const visible = Object.keys(snapshot(store)).filter((k) => !k.endsWith('/'));
    expect(visible).toEqual([]);
    const r = await gbp(['--store', store, 'pull', fixture('build-archive/build.tar.gz'), '-m', 'web', '-b', '1', '--publish']);
    expect(r.code, r.stderr).toBe(0);
  });
});

describe('the cross-check against binpkgs/Packages', () => {
  it('names the fields that differ when the package is new to the store', async () => {
    const members = await fixtureMembers();
    const file = join(tempDir(), 'bad.tar.gz');
    writeFileSync(file, tgz(members.map((m) => (m.path === hello ? { ...m, data: Buffer.concat([Buffer.from('X'), (m.data as Buffer).subarray(1)]) } : m))));
    const r = await gbp(['--store', tempDir(), 'pull', file, '-m', 'web', '-b', '1']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(new RegExp(`${hello}: does not match binpkgs/Packages: MD5 \\w+ in the index, \\w+ in the file; SHA1 \\w+ in the index, \\w+ in the file`));
  });
});

describe('killed at any moment', () => {
  it('SIGKILL at several points of a pull and its commit: re-running completes, every reference resolves', async () => {
    const { spawn } = await import('node:child_process');
    const { GBP } = await import('../helpers/cli.js');
    const { readdirSync } = await import('node:fs');
    const { clientReads, clientReadsGz } = await import('../helpers/client.js');
    const store = tempDir();
    const ok1 = await gbp(['--store', store, 'pull', fixture('build-archive/build.tar.gz'), '-m', 'web', '-b', '1', '--publish']);
    expect(ok1.code, ok1.stderr).toBe(0);
    for (const delay of [30, 80, 120, 160, 200, 260]) {
      const child = spawn(process.execPath, [GBP, '--store', store, 'pull', fixture('build-archive/build2.tar.gz'), '-m', 'web', '-b', '2', '--publish'], { stdio: 'ignore' });
      const closed = new Promise((r) => child.on('close', r)); // it may finish before the kill
      await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGKILL');
      await closed;
      // whatever happened, clients see a complete build: 1 or 2, never a mixture or a dangling PATH
      // (they read Packages.gz; Packages may briefly hold the other complete build)
      const view = clientReadsGz(store, 'machines/web/binpkgs', 'http://localhost:8080');
      expect([5, 6]).toContain(view.entries.length);
    }
    const r = await gbp(['--store', store, '--json', 'pull', fixture('build-archive/build2.tar.gz'), '-m', 'web', '-b', '2', '--publish']);
    expect(r.code, r.stderr).toBe(0);
    // after the re-run both files agree again (clientReads checks that)
    expect(clientReads(store, 'machines/web/binpkgs', 'http://localhost:8080').entries).toHaveLength(6);
    clientReads(store, 'builds/web/2/binpkgs', 'http://localhost:8080');
    // staging of killed pulls is cleaned up by the next one
    expect(readdirSync(join(store, '.tmp')).filter((n) => n.startsWith('stage-'))).toEqual([]);
  });
});
