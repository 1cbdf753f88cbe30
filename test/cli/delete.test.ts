/**
 * gbp delete: broken builds and retired machines removed on purpose. Marked builds refused unless
 * forced, a dry run that changes nothing, clients of a machine that publishes nothing get 404,
 * a retired machine leaves no views, pages or exported trees, and gc frees what only it used.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gbp, snapshot, tempDir } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';

const BUILD1 = fixture('build-archive/build.tar.gz');
const BUILD2 = fixture('build-archive/build2.tar.gz');

async function store(): Promise<string> {
  const dir = tempDir();
  for (const [m, archive, id, extra] of [
    ['web', BUILD1, '1', ['--tag', 'stable']],
    ['web', BUILD2, '2', ['--publish']],
    ['web', BUILD1, '3', []],
    ['db', BUILD1, '1', ['--publish']],
  ] as const) {
    const r = await gbp(['--store', dir, 'pull', archive, '-m', m, '-b', id, ...extra]);
    expect(r.code, r.stderr).toBe(0);
  }
  return dir;
}

describe('gbp delete', () => {
  it('deletes unmarked builds; refuses published, tagged and kept ones unless forced', async () => {
    const dir = await store();
    const run = (...args: string[]) => gbp(['--store', dir, '--json', 'delete', ...args]);
    const before = snapshot(dir);
    const dry = await run('web', '3', '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.json()).toMatchObject({ dryRun: true, wholeMachine: false, builds: [{ id: '3', marks: [] }] });
    expect(snapshot(dir)).toEqual(before);

    for (const [id, marks] of [
      ['1', '@stable'],
      ['2', 'published'],
    ]) {
      const r = await run('web', id);
      expect(r.code).toBe(4);
      expect(r.json().error.reason).toContain(`${id} (${marks})`);
      expect(r.json().error.reason).toContain('--force');
    }
    expect((await run('web', '9')).code).toBe(5);
    expect(snapshot(dir)).toEqual(before);

    expect((await run('web', '3')).code).toBe(0);
    expect(existsSync(join(dir, 'builds/web/3'))).toBe(false);
    expect((await gbp(['--store', dir, '--json', 'list', 'web'])).json().map((b: { id: string }) => b.id)).toEqual(['2', '1']);

    // the published build, forced: the machine publishes nothing, and its clients get 404s
    const forced = await run('web', '2', '--force');
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.json().builds).toEqual([{ id: '2', marks: ['published'] }]);
    for (const f of ['binpkgs/Packages.gz', 'binpkgs/Packages', 'binrepos.conf', 'repos.conf']) expect(existsSync(join(dir, 'machines/web', f)), f).toBe(false);
    expect(existsSync(join(dir, 'machines/web/tags/stable/binpkgs/Packages'))).toBe(true);
    expect(readFileSync(join(dir, 'machines/web/index.html'), 'utf8')).not.toContain('builds/web/2/');
    expect((await gbp(['--store', dir, 'fsck'])).code).toBe(0);
  });

  it('retires a machine: its views, pages and exported trees go; gc frees what only it used', async () => {
    const dir = await store();
    const exportDir = tempDir();
    expect((await gbp(['--store', dir, 'export-rsync', '--dest', exportDir])).code).toBe(0);
    const refused = await gbp(['--store', dir, 'delete', 'web']);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain('the machine has marked builds: 1 (@stable), 2 (published)');

    const r = await gbp(['--store', dir, 'delete', 'web', '--force']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('deleted machine web');
    const left = Object.keys(snapshot(dir));
    expect(left.filter((k) => k.startsWith('machines/web') || k.startsWith('builds/web'))).toEqual([]);
    expect((await gbp(['--store', dir, '--json', 'list'])).json().map((m: { machine: string }) => m.machine)).toEqual(['db']);
    expect(readFileSync(join(dir, 'index.html'), 'utf8')).not.toContain('machines/web/');
    expect((await gbp(['--store', dir, 'fsck'])).code).toBe(0);

    // the next export drops its trees; db's stay
    const e = await gbp(['--store', dir, '--json', 'export-rsync', '--dest', exportDir, '--grace', '0']);
    expect(e.code, e.stderr).toBe(0);
    const repos = e.json().paths.repos as string;
    expect(existsSync(join(repos, 'web'))).toBe(false);
    expect(existsSync(join(repos, 'db'))).toBe(true);
    // build 2's own packages were web's alone: gc frees them
    const gc = await gbp(['--store', dir, '--json', 'gc', '--grace', '0', '--force']);
    expect(gc.code, gc.stderr).toBe(0);
    expect(gc.json().deleted).toBeGreaterThan(0);
    expect((await gbp(['--store', dir, 'fsck'])).code).toBe(0);
    expect((await gbp(['--store', dir, 'delete', 'web'])).code).toBe(5);
  });
});
