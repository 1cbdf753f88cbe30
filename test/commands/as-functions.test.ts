/**
 * The commands are typed functions: a script or a test drives a machine's life without the CLI,
 * and reads what each step returns. The same scenario the CLI tests run as processes, in-process:
 * pull, publish, tag, keep, note, list, show, diff, purge, fsck, sync, client configuration.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { keepBuild, noteBuild, tagBuild } from '../../src/commands/build-marks.js';
import { clientConfig } from '../../src/commands/client-config.js';
import { diff } from '../../src/commands/history.js';
import { listAll, listBuilds, showBuild } from '../../src/commands/inspect.js';
import { check, purge } from '../../src/commands/maintain.js';
import { publish } from '../../src/commands/publish.js';
import { pull } from '../../src/commands/pull.js';
import { sync } from '../../src/commands/sync.js';
import { GbpError } from '../../src/errors.js';
import { FsStore } from '../../src/store/fs-store.js';
import { loadSite } from '../../src/store/site.js';
import { fixture } from '../helpers/fixtures.js';

const BUILD1 = fixture('build-archive/build.tar.gz');
const BUILD2 = fixture('build-archive/build2.tar.gz');

describe('the commands, called as functions', () => {
  it('a machine’s life: each step returns what a script needs next', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gbp-fn-'));
    const store = new FsStore(join(dir, 'store'));
    const site = await loadSite(store, 'https://bin.example.org');

    const first = await pull(store, site, { source: BUILD1, machine: 'web', id: '1', publish: true });
    expect(first).toMatchObject({ machine: 'web', id: '1', status: 'stored', published: true });
    expect(first.packages!.new).toBe(first.packages!.total);
    const second = await pull(store, site, { source: BUILD2, machine: 'web', id: '2' });
    expect(second.packages!.new).toBeLessThan(second.packages!.total); // shared packages stored once
    expect((await pull(store, site, { source: BUILD2, machine: 'web', id: '2' })).status).toBe('unchanged');

    expect(await publish(store, site, 'web', '2')).toEqual({ machine: 'web', id: '2', previous: '1', changed: true });
    expect(await tagBuild(store, site, 'web', '1', 'stable')).toMatchObject({ id: '1', changed: true });
    expect(await keepBuild(store, site, 'web', '1', false)).toMatchObject({ id: '1', changed: true });
    expect(await noteBuild(store, site, 'web', '@', 'openssl 3.4')).toMatchObject({ id: '2', changed: true });

    expect(await listAll(store)).toEqual([expect.objectContaining({ machine: 'web', builds: 2, published: '2', latest: '2', tags: { stable: '1' } })]);
    const builds = await listBuilds(store, 'web');
    expect(builds.map((b) => [b.id, b.published, b.tags, b.kept, b.note])).toEqual([
      ['2', true, [], false, 'openssl 3.4'], // newest first, as gbp list shows them
      ['1', false, ['stable'], true, null],
    ]);
    expect((await showBuild(store, 'web', '@stable')).build.id).toBe('1');
    const changes = await diff(store, 'web', '1', '2');
    expect(changes.packages.length).toBeGreaterThan(0);

    // kept, tagged, published and newest: nothing for a purge, and its plan says so
    expect((await purge(store, site, null, { keepLast: 1 }))[0].builds).toEqual([]);
    const report = await check(store, site, {});
    expect(report.problems).toEqual([]);
    expect(report.checked.builds).toBe(2);

    const copy = join(dir, 'copy');
    const plan = await sync(store.root, copy, { dryRun: true });
    expect(plan.builds.map((b) => b.id)).toEqual(['1', '2']);
    expect(plan.states).toEqual([{ machine: 'web', changes: ['published nothing → 2', 'tag stable → 1', 'keep 1', 'note on 2'] }]);
    const done = await sync(store.root, copy);
    expect({ objects: done.objects, bytes: done.bytes }).toEqual({ objects: plan.objects, bytes: plan.bytes });
    const copied = new FsStore(copy);
    expect((await listAll(copied))[0]).toMatchObject({ published: '2', tags: { stable: '1' } });

    const config = await clientConfig(copied, await loadSite(copied, undefined), 'web');
    expect(config.binrepos).toContain('sync-uri = https://bin.example.org/machines/web/binpkgs');
  });

  it('a refusal is a typed error carrying its exit code, and changes nothing', async () => {
    const store = new FsStore(mkdtempSync(join(tmpdir(), 'gbp-fn-')));
    const site = await loadSite(store, undefined);
    await pull(store, site, { source: BUILD1, machine: 'web', id: '1' });
    const err = await publish(store, site, 'web', '9').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GbpError);
    expect((err as GbpError).code).toBe('not-found');
    expect((await listAll(store))[0].published).toBeNull();
    await expect(pull(store, site, { source: BUILD1, machine: '../web', id: '2' })).rejects.toThrow(/machine name/);
    expect((await listAll(store)).map((m) => m.machine)).toEqual(['web']);
  });
});
