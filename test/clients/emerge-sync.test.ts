/**
 * `emerge --sync` by real Portage 3.0.82 against `gbp export-rsync` and a real rsync daemon, with
 * the repos.conf gbp publishes (only `location` moved into the test's fake root), read after
 * Portage's own cnf/repos.conf as a client's files are. The incident it guards: after a rollback
 * Portage printed "SERVER OUT OF DATE" and kept the newer tree.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gbp, openDir } from '../helpers/cli.js';
import { archiveMembers, tgz } from '../helpers/fixture-archive.js';
import { fixture } from '../helpers/fixtures.js';
import { PortageClient, rsyncStats } from '../helpers/portage.js';
import { startRsyncDaemon, type Daemon } from '../helpers/rsync.js';
import { listTree, withoutTimestamp } from '../helpers/tree-compare.js';

const BUILD1 = fixture('build-archive/build.tar.gz');
const BUILD2 = fixture('build-archive/build2.tar.gz');

/** The archive's repository tree, extracted by GNU tar: what the client must end with. */
function archiveTree(archive: string, repo: string): Record<string, string> {
  const dir = openDir();
  execFileSync('tar', ['-xzf', archive, '-C', dir, `repos/${repo}`]);
  return withoutTimestamp(listTree(join(dir, 'repos', repo)));
}

describe('emerge --sync from the export (real Portage)', () => {
  const store = openDir();
  const dest = join(openDir(), 'export');
  let daemon: Daemon;
  let client: PortageClient;
  const g = (...args: string[]) => gbp(['--store', store, ...args]);
  const exportNow = async () => {
    const r = await g('export-rsync', '--dest', dest, '--grace', '0');
    expect(r.code, r.stderr).toBe(0);
  };
  const published = () => readFileSync(join(store, 'machines/web/repos.conf'), 'utf8');
  const tagConf = (tag: string) => readFileSync(join(store, `machines/web/tags/${tag}/repos.conf`), 'utf8');
  const sync = (repos: string) => client.emerge(['--sync', 'test_repo'], { repos });
  const clientTree = () => withoutTimestamp(listTree(client.repoDir('test_repo')));
  const clientTimestamp = () => readFileSync(join(client.repoDir('test_repo'), 'metadata/timestamp.chk'), 'utf8');

  beforeAll(async () => {
    // the daemon's port is known only once it runs: start it on an empty export, then point the store at it
    const first = await gbp(['--store', store, 'pull', BUILD1, '-m', 'web', '-b', '1']);
    expect(first.code, first.stderr).toBe(0);
    await exportNow();
    daemon = await startRsyncDaemon(join(dest, 'rsyncd.conf'));
    expect((await g('--rsync-url', daemon.url, 'publish', 'web', '1')).code).toBe(0);
    await exportNow();
    client = await PortageClient.create();
  }, 120_000);
  afterAll(() => daemon?.stop());

  it('first sync: the client gets build 1, as the archive holds it', async () => {
    const r = await sync(published());
    expect(r.code, r.output).toBe(0);
    expect(clientTree()).toEqual(archiveTree(BUILD1, 'test_repo'));
    expect(clientTimestamp()).toBe('Sun, 22 Nov 2026 03:16:04 +0000\n'); // the archive's own
  });

  it('nothing new: Portage says the client is already current and transfers nothing', async () => {
    const r = await sync(published());
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/Timestamps on the server and in the local repository are the same/);
  });

  it('the next build: only what changed moves', async () => {
    expect((await g('pull', BUILD2, '-m', 'web', '-b', '2', '--publish')).code).toBe(0);
    await exportNow();
    const r = await sync(published());
    expect(r.code, r.output).toBe(0);
    expect(clientTree()).toEqual(archiveTree(BUILD2, 'test_repo'));
    // build 2 adds app-misc/motd (metadata.xml, ebuild, md5-cache entry) and changes libbase's
    // ebuild, its md5-cache entry and timestamp.chk: 6 files
    expect(rsyncStats(r.output).transferred, r.output).toBe(6);
  });

  it('a rollback reaches the client: build 1 again, with a newer timestamp', async () => {
    expect((await g('publish', 'web', '1')).code).toBe(0);
    await exportNow();
    const r = await sync(published());
    expect(r.code, r.output).toBe(0);
    expect(r.output).not.toMatch(/SERVER OUT OF DATE/);
    expect(clientTree()).toEqual(archiveTree(BUILD1, 'test_repo'));
    expect(clientTimestamp()).toBe('Sun, 22 Nov 2026 03:17:36 +0000\n'); // one second past build 2's
    expect(rsyncStats(r.output).transferred, r.output).toBe(3);
    // and it stays current until something changes
    expect((await sync(published())).output).toMatch(/Timestamps on the server and in the local repository are the same/);
  });

  it('switching to a tag whose build is newer, then to one that is older, then back', async () => {
    expect((await g('tag', 'web', '2', 'next')).code).toBe(0);
    expect((await g('tag', 'web', '1', 'old')).code).toBe(0);
    await exportNow();
    let r = await sync(tagConf('next'));
    expect(r.code, r.output).toBe(0);
    expect(clientTree()).toEqual(archiveTree(BUILD2, 'test_repo'));
    r = await sync(tagConf('old'));
    expect(r.code, r.output).toBe(0);
    expect(clientTree()).toEqual(archiveTree(BUILD1, 'test_repo'));
    expect((await g('publish', 'web', '2')).code).toBe(0);
    await exportNow();
    r = await sync(published());
    expect(r.code, r.output).toBe(0);
    expect(clientTree()).toEqual(archiveTree(BUILD2, 'test_repo'));
  });
});

describe('a ::gentoo client with the repos.conf gbp writes, over Portage defaults for [gentoo]', () => {
  /** The fixture's repository renamed gentoo, optionally with a signed top-level Manifest. */
  async function gentooArchive(signed: boolean): Promise<string> {
    const members = (await archiveMembers(BUILD1)).map((m) => {
      const path = m.path.replace(/^(\.\/)?repos\/test_repo/, 'repos/gentoo');
      if (path === 'repos/gentoo/profiles/repo_name') return { ...m, path, data: 'gentoo\n' };
      if (m.path.endsWith('make.profile')) return { ...m, path, linkpath: m.linkpath!.replace('test_repo', 'gentoo') };
      return { ...m, path };
    });
    if (signed) {
      members.push({ path: 'repos/gentoo/Manifest', data: '-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nTIMESTAMP 2026-11-22T03:16:04Z\nIGNORE distfiles\n-----BEGIN PGP SIGNATURE-----\n\n-----END PGP SIGNATURE-----\n' });
    }
    const file = join(openDir(), `gentoo-${signed ? 'signed' : 'unsigned'}.tar.gz`);
    writeFileSync(file, tgz(members));
    return file;
  }

  for (const signed of [false, true]) {
    it(`a tree ${signed ? 'with' : 'without'} a signed top-level Manifest`, async () => {
      const store = openDir();
      const dest = join(openDir(), 'export');
      const g = (...args: string[]) => gbp(['--store', store, ...args]);
      expect((await g('pull', await gentooArchive(signed), '-m', 'web', '-b', '1')).code).toBe(0);
      expect((await g('export-rsync', '--dest', dest)).code).toBe(0);
      const daemon = await startRsyncDaemon(join(dest, 'rsyncd.conf'));
      try {
        expect((await g('--rsync-url', daemon.url, 'publish', 'web', '1')).code).toBe(0);
        expect((await g('export-rsync', '--dest', dest)).code).toBe(0);
        const conf = readFileSync(join(store, 'machines/web/repos.conf'), 'utf8');
        const client = await PortageClient.create();
        const r = await client.emerge(['--sync', 'gentoo'], { repos: conf });
        if (signed) {
          // verification stays on: Portage wants gemato to check the signature (a Gentoo client
          // has it; this machine does not, and so the sync stops there instead of trusting it)
          expect(conf).toMatch(/sync-rsync-verify-metamanifest = yes/);
          expect(r.output).toMatch(/gemato-14\.5\+ is required/);
        } else {
          // Portage's default for [gentoo] would require a signed Manifest; gbp's file turns it off
          expect(conf).toMatch(/sync-rsync-verify-metamanifest = no/);
          expect(r.code, r.output).toBe(0);
          expect(listTree(client.repoDir('gentoo'))).toEqual(servedTree(dest, 'web/gentoo'));
        }
      } finally {
        await daemon.stop();
      }
    }, 120_000);
  }
});

/** An exported tree, as the daemon serves it now (the repos module's current generation). */
function servedTree(dest: string, target: string): Record<string, string> {
  const conf = readFileSync(join(dest, 'rsyncd.conf'), 'utf8');
  const path = /\[repos\]\n\s+path = (.+)/.exec(conf)![1];
  return listTree(join(path, target));
}
