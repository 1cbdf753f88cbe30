/**
 * Regression for "fsck beside a publish reported a whole store damaged": fsck read every machine's
 * state at its start and checked the published views against it once the builds were checked, so
 * a rollback (or a delete) in between made it report views that were right. Here the real publish
 * and delete land at that moment, on a second Store of the same directory (as another process's
 * would): fsck waits for them at its first look at a build's tree.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deleteBuilds, check } from '../../src/commands/maintain.js';
import { publish } from '../../src/commands/publish.js';
import { pull } from '../../src/commands/pull.js';
import { readState } from '../../src/records/machine-state.js';
import { FsStore } from '../../src/store/fs-store.js';
import { loadSite, type SiteSettings } from '../../src/store/site.js';
import type { Store } from '../../src/store/store.js';
import { tempDir } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';

const BUILD1 = fixture('build-archive/build.tar.gz');
const BUILD2 = fixture('build-archive/build2.tar.gz');

/** `store`, whose first existence check of a tree manifest waits for `meanwhile` to finish. */
function pausingAtFirstTree(store: Store, meanwhile: () => Promise<unknown>): Store {
  let ran = false;
  return new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (prop !== 'exists') return typeof v === 'function' ? v.bind(target) : v;
      return async (key: string) => {
        if (!ran && key.startsWith('trees/')) {
          ran = true;
          await meanwhile();
        }
        return target.exists(key);
      };
    },
  });
}

async function twoMachines(): Promise<{ dir: string; site: SiteSettings }> {
  const dir = join(tempDir(), 'store');
  const store = new FsStore(dir);
  const site = await loadSite(store, 'https://bin.example.org');
  await pull(store, site, { source: BUILD1, machine: 'web', id: '1', publish: true });
  await pull(store, site, { source: BUILD2, machine: 'web', id: '2', publish: true, tags: ['stable'] });
  await pull(store, site, { source: BUILD1, machine: 'mail', id: '1', publish: true });
  return { dir, site };
}

describe('fsck while the store changes', () => {
  it('a rollback while fsck checks the builds: the views are checked against the state as it is then', async () => {
    const { dir, site } = await twoMachines();
    const other = new FsStore(dir);
    const store = pausingAtFirstTree(new FsStore(dir), () => publish(other, site, 'web', '1'));
    const report = await check(store, site, { content: false });
    expect((await readState(other, 'web'))!.published).toBe('1'); // the rollback did land inside fsck
    expect(report.problems).toEqual([]);
    expect(report.checked.views).toBe(3); // web's published and stable views, mail's published
  });

  it('a machine deleted while fsck --repair checks the builds is skipped: nothing reported, nothing of it written back', async () => {
    const { dir, site } = await twoMachines();
    const other = new FsStore(dir);
    const store = pausingAtFirstTree(new FsStore(dir), () => deleteBuilds(other, site, 'mail', [], { force: true }));
    const report = await check(store, site, { content: false, repair: true });
    expect(await readState(other, 'mail')).toBeNull(); // the delete did land inside fsck
    expect(report.problems).toEqual([]);
    expect(report.checked.views).toBe(2);
    expect(existsSync(join(dir, 'builds/mail'))).toBe(false);
    expect(existsSync(join(dir, 'machines/mail'))).toBe(false);
    expect((await check(new FsStore(dir), site, {})).problems).toEqual([]);
  });
});
