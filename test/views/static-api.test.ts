/**
 * The static API beside the pages (api/v1/): the machines and each machine's builds as JSON, kept
 * current by every publish, and gone with a deleted machine.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gbp, tempDir } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';

const read = (store: string, key: string) => JSON.parse(readFileSync(join(store, key), 'utf8'));

describe('static API', () => {
  it('lists machines and builds as the pages show them, and follows publishes and deletes', async () => {
    const store = tempDir();
    const base = 'https://binhost.example.org';
    for (const [m, archive, id, extra] of [
      ['web', 'build.tar.gz', '1', ['--tag', 'stable']],
      ['web', 'build2.tar.gz', '2', ['--publish', '--note', 'new kernel']],
      ['db', 'build.tar.gz', '1', ['--publish']],
    ] as const) {
      expect((await gbp(['--store', store, '--base-url', base, 'pull', fixture('build-archive', archive), '-m', m, '-b', id, ...extra])).code).toBe(0);
    }
    const machines = read(store, 'api/v1/machines.json');
    expect(machines.format).toBe(1);
    expect(machines.machines).toEqual([
      { name: 'db', published: '1', latest: '1', builds: 1, tags: {}, problems: [], page: `${base}/machines/db/`, binhost: `${base}/machines/db/binpkgs/`, builds_url: `${base}/api/v1/machines/db/builds.json` },
      { name: 'web', published: '2', latest: '2', builds: 2, tags: { stable: '1' }, problems: [], page: `${base}/machines/web/`, binhost: `${base}/machines/web/binpkgs/`, builds_url: `${base}/api/v1/machines/web/builds.json` },
    ]);
    const web = read(store, 'api/v1/machines/web/builds.json');
    expect(web.builds).toEqual([
      expect.objectContaining({ id: '1', parent: null, packages: 5, published: false, tags: ['stable'], kept: false, note: null, page: `${base}/builds/web/1/` }),
      expect.objectContaining({ id: '2', parent: '1', packages: 6, published: true, tags: [], note: 'new kernel', record: `${base}/builds/web/2/build.json` }),
    ]);
    expect(web.builds[1].changed).toBeGreaterThan(0);

    // a build's facts, as its page shows them: packages with their change marks (what gbp diff says)
    expect(web.builds[1].facts).toBe(`${base}/builds/web/2/facts.v1.json`);
    const facts = read(store, 'builds/web/2/facts.v1.json');
    expect(facts).toMatchObject({ format: 1, machine: 'web', id: '2', parent: '1' });
    const diff = (await gbp(['--store', store, '--json', 'diff', 'web', '1', '2'])).json();
    const marked = facts.packages.filter((p: { change: string | null }) => p.change).map((p: { name: string; change: string }) => `${p.name} ${p.change}`).sort();
    const said = diff.packages.filter((c: { change: string }) => c.change !== 'removed').map((c: { package: string; change: string }) => `${c.package.split(':')[0]} ${c.change}`).sort();
    expect(marked).toEqual(said);
    expect(facts.removed.map((r: { package: string }) => r.package)).toEqual(diff.packages.filter((c: { change: string }) => c.change === 'removed').map((c: { package: string }) => c.package));
    expect(facts.packages.length).toBe(6);
    for (const p of facts.packages) expect(existsSync(join(store, p.url.slice(base.length + 1))), p.url).toBe(true);
    expect(facts.config.filter((f: { status: string | null }) => f.status === 'changed').map((f: { path: string }) => f.path)).toEqual(diff.config.changed);
    expect(facts.world).toContain('app-misc/hello');
    expect(facts.repos).toEqual([expect.objectContaining({ name: 'test_repo', changed: diff.repos[0].filesChanged })]);
    // immutable: a publish does not rewrite it
    const before = readFileSync(join(store, 'builds/web/2/facts.v1.json'), 'utf8');

    expect((await gbp(['--store', store, 'publish', 'web', '1'])).code).toBe(0);
    expect(read(store, 'api/v1/machines/web/builds.json').builds.map((b: { published: boolean }) => b.published)).toEqual([true, false]);
    expect(readFileSync(join(store, 'builds/web/2/facts.v1.json'), 'utf8')).toBe(before);
    expect(read(store, 'api/v1/machines.json').machines[1].problems).toEqual(['latest build 2 is not published']);

    expect((await gbp(['--store', store, 'delete', 'web', '--force'])).code).toBe(0);
    expect(read(store, 'api/v1/machines.json').machines.map((m: { name: string }) => m.name)).toEqual(['db']);
    expect(existsSync(join(store, 'api/v1/machines/web/builds.json'))).toBe(false);
    expect(existsSync(join(store, 'builds/web/2/facts.v1.json'))).toBe(false);
  });
});
