/**
 * The marks and questions users rely on daily: tags (with their own index), keep, notes, and what
 * changed between builds and in which build a package changed, checked against what the fixture's
 * author recorded about the two real builds (expected.json build_diff).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { clientReads } from '../helpers/client.js';
import { gbp, tempDir } from '../helpers/cli.js';
import { expected, fixture } from '../helpers/fixtures.js';

const store = tempDir();
const g = (...args: string[]) => gbp(['--store', store, ...args]);

beforeAll(async () => {
  expect((await g('pull', fixture('build-archive/build.tar.gz'), '-m', 'web', '-b', '1', '--publish')).code).toBe(0);
  expect((await g('pull', fixture('build-archive/build2.tar.gz'), '-m', 'web', '-b', '2')).code).toBe(0);
});

describe('gbp diff', () => {
  it('says what changed between two builds, as the fixture records it', async () => {
    const r = await g('--json', 'diff', 'web', '@', '@@');
    expect(r.code, r.stderr).toBe(0);
    const d = r.json();
    const want = expected.build_diff;
    expect(d.packages).toEqual([
      { package: 'app-misc/motd', change: 'added', from: null, to: { cpv: 'app-misc/motd-1.0', buildId: '1' } },
      { package: 'app-misc/tools', change: 'removed', from: { cpv: 'app-misc/tools-0.5', buildId: '1' }, to: null },
      { package: 'dev-libs/libfoo:2', change: 'rebuilt', from: { cpv: 'dev-libs/libfoo-2.1.3', buildId: '1' }, to: { cpv: 'dev-libs/libfoo-2.1.3', buildId: '2' } },
    ]);
    const inst = (l: { cpv: string; build_id: number }[]) => l.map((i) => ({ cpv: i.cpv, buildId: String(i.build_id) }));
    expect(d.instances.added).toEqual(inst(want.binpkg_instances_added));
    expect(d.instances.removed).toEqual(inst(want.binpkg_instances_removed));
    expect(d.world).toEqual({ added: ['app-misc/motd'], removed: ['app-misc/tools'] });
    expect(d.config).toEqual({ added: [], removed: [], changed: ['package.use/libfoo'] });
    const repoFiles = [...want.files_added, ...want.files_changed].filter((f) => f.startsWith('repos/test_repo/'));
    expect(d.repos).toMatchObject([{ repo: 'test_repo', filesChanged: repoFiles.length }]);
    expect(d.repos[0].from).not.toBe(d.repos[0].to);
  });

  it('prints a readable summary', async () => {
    const r = await g('diff', 'web', '1', '2');
    expect(r.stdout).toMatch(/^ {2}~ rebuilt +dev-libs\/libfoo-2\.1\.3 \(build 1\) → dev-libs\/libfoo-2\.1\.3 \(build 2\)$/m);
    expect(r.stdout).toMatch(/^world: \+app-misc\/motd -app-misc\/tools$/m);
  });

  it('refuses a build that does not exist (exit 5)', async () => {
    expect((await g('diff', 'web', '1', '9')).code).toBe(5);
  });
});

describe('gbp log', () => {
  it('lists the builds in which a package changed, by name or category/name', async () => {
    for (const name of ['libfoo', 'dev-libs/libfoo']) {
      const r = await g('--json', 'log', 'web', name);
      expect(r.json().map((e: { build: string; change: string }) => [e.build, e.change])).toEqual([
        ['1', 'added'],
        ['2', 'rebuilt'],
      ]);
    }
    expect((await g('log', 'web', 'nosuch')).stdout).toMatch(/did not change in any build/);
  });
});

describe('tags, keep, notes', () => {
  it('a tag gets its own index; removing it removes the index', async () => {
    expect((await g('tag', 'web', '1', 'stable')).code).toBe(0);
    expect(clientReads(store, 'machines/web/tags/stable/binpkgs', 'http://localhost:8080').entries).toHaveLength(5);
    const r = await g('tag', 'web', 'stable', '--remove');
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(store, 'machines/web/tags/stable'))).toBe(false);
    expect((await g('tag', 'web', 'stable', '--remove')).code).toBe(5);
    expect((await g('tag', 'web', '1', 'bad/name')).code).toBe(2);
  });

  it('keeps and releases a build, idempotently', async () => {
    expect((await g('keep', 'web', '@@')).code).toBe(0);
    expect((await g('--json', 'keep', 'web', '2')).json().changed).toBe(false);
    expect((await g('--json', 'list', 'web')).json()[0]).toMatchObject({ id: '2', kept: true });
    expect((await g('keep', 'web', '2', '--release')).code).toBe(0);
    expect((await g('--json', 'list', 'web')).json()[0]).toMatchObject({ id: '2', kept: false });
  });

  it('takes a note from standard input, keeps markup as text, and deletes it', async () => {
    const note = 'bad <script>alert(1)</script> kernel\nsecond line';
    expect((await gbp(['--store', store, 'note', 'web', '2', '-'], { input: Buffer.from(`${note}\n`) })).code).toBe(0);
    expect((await g('--json', 'list', 'web')).json()[0].note).toBe(note);
    expect((await g('list', 'web')).stdout).toContain('bad <script>alert(1)</script> kernel');
    expect((await g('note', 'web', '2', '--delete')).code).toBe(0);
    expect((await g('--json', 'list', 'web')).json()[0].note).toBeNull();
  });
});

describe('gbp --version', () => {
  it("prints the package's version, as text and with --json as a document", async () => {
    const { version } = JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8'));
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
    const text = await gbp(['--version']);
    expect([text.code, text.stdout.trim()]).toEqual([0, version]);
    expect((await gbp(['-V'])).stdout.trim()).toBe(version);
    const json = await gbp(['--json', '--version']);
    expect([json.code, json.json()]).toEqual([0, { version }]);
  });
});

describe('gbp diff and repository commits', () => {
  it('shows the source commit a repo job wrote into metadata/build.json', async () => {
    const { archiveMembers, tgz } = await import('../helpers/fixture-archive.js');
    const { writeFileSync } = await import('node:fs');
    const members = await archiveMembers(fixture('build-archive/build2.tar.gz'));
    const file = join(tempDir(), 'with-commit.tar.gz');
    const commit = '3f1c2a9e8d7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a';
    // the fixture's snapshot has a timestamp.chk; the repo job's build.json comes with the commit
    const stamp = members.find((m) => m.path === 'repos/test_repo/metadata/timestamp.chk')!.data!.toString().trim();
    expect(stamp).toMatch(/\d{4} \d\d:\d\d:\d\d/);
    const marked = (c: string) => [...members, { path: 'repos/test_repo/metadata/build.json', data: JSON.stringify({ url: 'https://example.org/test_repo.git', commit: c }) }];
    writeFileSync(file, tgz(marked(commit)));
    expect((await g('pull', file, '-m', 'web', '-b', '3')).code).toBe(0);
    const d = (await g('--json', 'diff', 'web', '2', '3')).json();
    expect(d.repos).toMatchObject([{ repo: 'test_repo', from: stamp, to: stamp, fromCommit: null, toCommit: commit, filesChanged: 1 }]);
    expect((await g('diff', 'web', '2', '3')).stdout).toMatch(/commit - → 3f1c2a9e8d7b \(1 file changed\)/);
    // both sides' marks, read in the same walk as the changes
    const next = 'aa1c2a9e8d7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a';
    writeFileSync(file, tgz(marked(next)));
    expect((await g('pull', file, '-m', 'web', '-b', '4')).code).toBe(0);
    expect((await g('--json', 'diff', 'web', '3', '4')).json().repos).toMatchObject([{ repo: 'test_repo', from: stamp, to: stamp, fromCommit: commit, toCommit: next, filesChanged: 1 }]);
  });
});
