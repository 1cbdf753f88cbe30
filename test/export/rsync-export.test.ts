/**
 * `emerge --sync` against the export, for real: an rsync daemon on 127.0.0.1 with the generated
 * rsyncd.conf, and the rsync client with Portage's own options. After each publish a client holding
 * the previous tree transfers exactly the changed files and ends byte-identical to the archive.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gbp, openDir } from '../helpers/cli.js';
import { archiveMembers, tgz } from '../helpers/fixture-archive.js';
import { fixture } from '../helpers/fixtures.js';
import { portageSync, portageSyncAsync, startRsyncDaemon, type Daemon } from '../helpers/rsync.js';
import { listTree, withoutTimestamp } from '../helpers/tree-compare.js';

const BUILD1 = fixture('build-archive/build.tar.gz');
const BUILD2 = fixture('build-archive/build2.tar.gz');


function extract(archive: string, member: string): string {
  const dir = openDir();
  execFileSync('tar', ['-xzf', archive, '-C', dir, member]);
  return join(dir, member.replace(/^\.\//, ''));
}

describe('rsync export of published trees', () => {
  const store = openDir();
  const dest = join(openDir(), 'export');
  const client = openDir();
  let daemon: Daemon;
  const g = (...args: string[]) => gbp(['--store', store, ...args]);
  const exportNow = async () => {
    const r = await g('--json', 'export-rsync', '--dest', dest, '--grace', '0');
    expect(r.code, r.stderr).toBe(0);
    return r.json();
  };

  beforeAll(async () => {
    expect((await g('pull', BUILD1, '-m', 'web', '-b', '1', '--publish', '--tag', 'stable')).code).toBe(0);
    await exportNow();
    daemon = await startRsyncDaemon(join(dest, 'rsyncd.conf'));
  });
  afterAll(() => daemon?.stop());

  it('serves the published build: the client gets the archive tree, byte for byte, with its mtimes', () => {
    const r = portageSync(`${daemon.url}/repos/web/test_repo/`, client);
    expect(r.code, r.output).toBe(0);
    expect(listTree(client, { mtimes: true })).toEqual(listTree(extract(BUILD1, 'repos/test_repo'), { mtimes: true }));
  });

  it('serves etc-portage and var-lib-portage, and tags as <machine>@<tag>', () => {
    // admins fetch configuration with plain rsync -a: Portage's --safe-links would drop make.profile
    const etc = openDir();
    expect(spawnSync('rsync', ['-a', `${daemon.url}/etc-portage/web/`, `${etc}/`]).status).toBe(0);
    expect(listTree(etc)).toEqual(listTree(extract(BUILD1, './etc-portage')));
    const world = openDir();
    expect(portageSync(`${daemon.url}/var-lib-portage/web@stable/`, world).code).toBe(0);
    expect(readFileSync(join(world, 'world'), 'utf8')).toBe('app-misc/hello\napp-misc/tools\ndev-libs/libfoo\n');
    const tagged = openDir();
    expect(portageSync(`${daemon.url}/repos/web@stable/test_repo/`, tagged).code).toBe(0);
    // a tag's timestamp.chk is one Portage does not parse, so switching to it always syncs
    expect(withoutTimestamp(listTree(tagged))).toEqual(withoutTimestamp(listTree(client)));
    expect(readFileSync(join(tagged, 'metadata/timestamp.chk'), 'utf8')).toBe(
      "pinned by gbp to @stable (build 1), so every sync compares trees; the archive's timestamp: Sun, 22 Nov 2026 03:16:04 +0000\n",
    );
  });

  it('lists exactly the published names: machines, tags, repositories', () => {
    const listing = spawnSync('rsync', [`${daemon.url}/repos/`], { encoding: 'utf8' });
    expect(listing.stdout.trim().split('\n').map((l) => l.split(/\s+/).pop())).toEqual(['.', 'web', 'web@stable']);
    const machine = spawnSync('rsync', [`${daemon.url}/repos/web/`], { encoding: 'utf8' });
    expect(machine.stdout.trim().split('\n').map((l) => l.split(/\s+/).pop())).toEqual(['.', 'test_repo']);
    const modules = spawnSync('rsync', [`${daemon.url}/`], { encoding: 'utf8' });
    expect(modules.stdout).toMatch(/^repos\s/m);
    expect(modules.stdout).toMatch(/^etc-portage\s/m);
    expect(modules.stdout).toMatch(/^var-lib-portage\s/m);
  });

  it('after the next publish, the client transfers exactly the changed files', async () => {
    expect((await g('pull', BUILD2, '-m', 'web', '-b', '2', '--publish')).code).toBe(0);
    const out = await exportNow();
    expect(out.targets.find((t: { link: string }) => t.link === 'web/test_repo')).toMatchObject({ status: 'updated', build: '2' });
    const r = portageSync(`${daemon.url}/repos/web/test_repo/`, client);
    expect(r.code, r.output).toBe(0);
    // 3 added (motd ebuild, metadata.xml, md5-cache entry) + 3 changed (libbase ebuild and cache, timestamp.chk)
    expect(r.transferred).toBe(6);
    expect(listTree(client, { mtimes: true })).toEqual(listTree(extract(BUILD2, 'repos/test_repo'), { mtimes: true }));
  });

  it('rolls back: publishing build 1 again brings the client back, with the same small transfer', async () => {
    expect((await g('publish', 'web', '1')).code).toBe(0);
    await exportNow();
    const r = portageSync(`${daemon.url}/repos/web/test_repo/`, client);
    expect(r.code, r.output).toBe(0);
    expect(r.transferred, r.output).toBe(3); // the 3 changed files; the 3 added ones are deleted
    expect(r.deleted).toBe(4); // rsync counts the emptied app-misc/motd/ directory too
    expect(withoutTimestamp(listTree(client, { mtimes: true }))).toEqual(withoutTimestamp(listTree(extract(BUILD1, 'repos/test_repo'), { mtimes: true })));
    // build 1's tree, with a timestamp one second past build 2's: Portage takes it as newer
    expect(readFileSync(join(client, 'metadata/timestamp.chk'), 'utf8')).toBe('Sun, 22 Nov 2026 03:17:36 +0000\n');
  });

  it('an export with nothing new changes nothing', async () => {
    const before = listTree(dest);
    const out = await exportNow();
    expect(out.targets.every((t: { status: string }) => t.status === 'unchanged')).toBe(true);
    expect(listTree(dest)).toEqual(before);
  });
});

describe('stable mtimes when the archive carries fresh checkout times', () => {
  it('a client transfers the changed files only, not the whole tree', async () => {
    // build 2's archive with every repository mtime moved an hour later, as a fresh git checkout does
    const members = await archiveMembers(BUILD2);
    const fresh = members.map((m) => (m.path.startsWith('repos/') ? { ...m, mtime: (m.mtime ?? 0) + 3600 } : m));
    const archive2 = join(openDir(), 'fresh.tar.gz');
    writeFileSync(archive2, tgz(fresh));

    const store = openDir();
    const dest = join(openDir(), 'export');
    const client = openDir();
    expect((await gbp(['--store', store, 'pull', BUILD1, '-m', 'web', '-b', '1', '--publish'])).code).toBe(0);
    expect((await gbp(['--store', store, 'export-rsync', '--dest', dest])).code).toBe(0);
    const daemon = await startRsyncDaemon(join(dest, 'rsyncd.conf'));
    try {
      expect(portageSync(`${daemon.url}/repos/web/test_repo/`, client).code).toBe(0);
      expect((await gbp(['--store', store, 'pull', archive2, '-m', 'web', '-b', '2', '--publish'])).code).toBe(0);
      expect((await gbp(['--store', store, 'export-rsync', '--dest', dest])).code).toBe(0);
      const r = portageSync(`${daemon.url}/repos/web/test_repo/`, client);
      expect(r.code, r.output).toBe(0);
      expect(r.transferred).toBe(6); // of 32 files, all with new mtimes in the archive
      expect(listTree(client)).toEqual(listTree(extract(BUILD2, 'repos/test_repo')));
    } finally {
      await daemon.stop();
    }
  });
});

describe('a flip during a transfer', () => {
  it('the client finishes with one consistent tree, then gets the new one', async () => {
    const GENERATE = resolve(__dirname, '../../dist/scripts/fixtures/generate.js');
    const fx = openDir();
    const gen = spawnSync(process.execPath, [GENERATE, '--size', 'small', '--out', fx, '--machines', '1', '--builds', '2', '--seed', '3'], { encoding: 'utf8' });
    expect(gen.status, gen.stderr).toBe(0);
    const [b1, b2] = JSON.parse(readFileSync(join(fx, 'fixtures.json'), 'utf8')).builds.map((b: { file: string }) => b.file);
    const store = openDir();
    const dest = join(openDir(), 'export');
    expect((await gbp(['--store', store, 'pull', b1, '-m', 'web', '-b', '1', '--publish'])).code).toBe(0);
    const first = await gbp(['--store', store, '--json', 'export-rsync', '--dest', dest]);
    expect(first.code, first.stderr).toBe(0);
    const tree1 = listTree(join(first.json().paths.repos, 'web/gentoo'));
    const daemon = await startRsyncDaemon(join(dest, 'rsyncd.conf'));
    try {
      const client = openDir();
      mkdirSync(client, { recursive: true });
      // about 2.6 MB at 400 KiB/s: the publish and export below land in the middle of it
      const slow = portageSyncAsync(`${daemon.url}/repos/web/gentoo/`, client, ['--bwlimit=400', '--no-compress']);
      await new Promise((r) => setTimeout(r, 1500));
      expect((await gbp(['--store', store, 'pull', b2, '-m', 'web', '-b', '2', '--publish'])).code).toBe(0);
      const second = await gbp(['--store', store, '--json', 'export-rsync', '--dest', dest]);
      expect(second.code, second.stderr).toBe(0);
      const tree2 = listTree(join(second.json().paths.repos, 'web/gentoo'));
      expect(tree2).not.toEqual(tree1);
      const r = await slow;
      expect(r.code, r.output).toBe(0);
      expect(listTree(client)).toEqual(tree1); // the tree it started on, complete, no mixture
      const again = portageSync(`${daemon.url}/repos/web/gentoo/`, client);
      expect(again.code).toBe(0);
      expect(listTree(client)).toEqual(tree2);
    } finally {
      await daemon.stop();
    }
  });
});

describe('export-rsync --watch', () => {
  it('re-exports within seconds of a publish, and stops cleanly on SIGTERM', async () => {
    const { spawn } = await import('node:child_process');
    const { GBP } = await import('../helpers/cli.js');
    const store = openDir();
    const dest = join(openDir(), 'export');
    expect((await gbp(['--store', store, 'pull', BUILD1, '-m', 'web', '-b', '1', '--publish'])).code).toBe(0);
    const watcher = spawn(process.execPath, [GBP, '--store', store, 'export-rsync', '--dest', dest, '--watch', '--interval', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    watcher.stdout.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => watcher.on('close', (code) => r(code)));
    try {
      const waitFor = async (re: RegExp) => {
        for (let i = 0; i < 100 && !re.test(out); i++) await new Promise((r) => setTimeout(r, 100));
        expect(out).toMatch(re);
      };
      await waitFor(/repos\/web\/test_repo: created from web 1/);
      expect((await gbp(['--store', store, 'pull', BUILD2, '-m', 'web', '-b', '2', '--publish'])).code).toBe(0);
      const published = Date.now();
      await waitFor(/repos\/web\/test_repo: updated from web 2/);
      expect(Date.now() - published).toBeLessThan(5000);
      const conf = readFileSync(join(dest, 'rsyncd.conf'), 'utf8');
      const repos = /\[repos\]\n\s+path = (.*)\n/.exec(conf)![1];
      expect(readFileSync(join(repos, 'web/test_repo/metadata/md5-cache/app-misc/motd-1.0'), 'utf8')).toContain('motd');
    } finally {
      watcher.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
