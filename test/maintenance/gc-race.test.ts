/**
 * Regression for the incident "gc beside a pull deleted a package the published index lists":
 * the real pull and the real gc, in one process, on two Store instances of one directory (as two
 * processes would be), with a random pause before every store call so that each round runs them
 * through a different interleaving. After every round: either the pull recorded a build whose
 * every object exists, or it refused with a conflict and recorded nothing.
 */
import { cpSync, readdirSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pull } from '../../src/commands/pull.js';
import { forEachTreeEntry } from '../../src/records/tree-manifest.js';
import { loadBuild } from '../../src/records/build-manifest.js';
import { GbpError } from '../../src/errors.js';
import { runGc } from '../../src/maintenance/gc.js';
import { readState } from '../../src/records/machine-state.js';
import { applyPurge, planPurge } from '../../src/maintenance/purge.js';
import { FsStore } from '../../src/store/fs-store.js';
import { keys } from '../../src/store/keys.js';
import { loadSite } from '../../src/store/site.js';
import type { Store } from '../../src/store/store.js';
import { tempDir } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';

const BUILD1 = fixture('build-archive/build.tar.gz');
const BUILD2 = fixture('build-archive/build2.tar.gz');
const ROUNDS = Number(process.env.GBP_RACE_ROUNDS ?? 60);

/** A store whose every call first waits 0–3 ms or yields, so concurrent callers interleave at random. */
function jittery(store: Store, random: () => number): Store {
  const pause = () => new Promise<void>((r) => (random() < 0.3 ? setImmediate(r) : setTimeout(r, Math.floor(random() * 3))));
  return new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function' || prop === 'localFile') return typeof v === 'function' ? v.bind(target) : v;
      if (prop === 'list') {
        return async function* (prefix: string) {
          await pause();
          for await (const k of target.list(prefix)) {
            yield k;
            await pause();
          }
        };
      }
      return async (...args: unknown[]) => {
        await pause();
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** A seeded generator, so a failing round can be replayed. */
function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function missingObjects(store: Store, machine: string, id: string): Promise<string[]> {
  const build = (await loadBuild(store, machine, id))!;
  const wanted = new Set<string>();
  for (const p of build.binpkgs.packages) {
    wanted.add(keys.blobMeta(p.sha256));
    wanted.add(keys.blob(p.sha256, p.stanza.PATH.split('/').pop()!));
  }
  for (const ref of Object.values(build.trees)) {
    const tree = keys.tree(ref.manifest);
    wanted.add(tree);
    const data = await store.get(tree);
    if (data) forEachTreeEntry(data, (e) => e.pack && wanted.add(keys.pack(e.pack)));
  }
  const gone: string[] = [];
  for (const k of wanted) if (!(await store.exists(k))) gone.push(k);
  return gone;
}

describe('gc beside a pull', () => {
  it(`loses nothing in ${ROUNDS} random interleavings of the real pull and the real gc`, async () => {
    // web 1 purged: its objects are unreferenced and, once aged, garbage that the pull of mail brings back
    const template = tempDir();
    const setup = new FsStore(template);
    const site = await loadSite(setup, undefined);
    await pull(setup, site, { source: BUILD1, machine: 'web', id: '1' });
    await pull(setup, site, { source: BUILD2, machine: 'web', id: '2', publish: true });
    await applyPurge(setup, await planPurge(setup, null, { keepLast: 1 }, Math.floor(Date.now() / 1000)));
    const old = Date.now() / 1000 - 2 * 86400;
    for (const dir of ['blobs', 'trees', 'packs']) {
      for (const p of readdirSync(join(template, dir), { recursive: true })) utimesSync(join(template, dir, String(p)), old, old);
    }

    const outcomes = { recorded: 0, refused: 0, deletedSomething: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const dir = tempDir();
      cpSync(template, dir, { recursive: true, preserveTimestamps: true });
      const random = mulberry32(round + 1);
      const pullStore = jittery(new FsStore(dir), random);
      const gcStore = jittery(new FsStore(dir), random);
      // the gc starts a little before, at the same time as, or a little after the pull
      const gcDelay = Math.floor(random() * 400);
      const [pulled, swept] = await Promise.allSettled([
        pull(pullStore, site, { source: BUILD1, machine: 'mail', id: '1', publish: true }),
        new Promise((r) => setTimeout(r, gcDelay)).then(() => runGc(gcStore, { graceSeconds: 86400, force: true })),
      ]);
      expect(swept.status, `round ${round}: ${swept.status === 'rejected' ? swept.reason : ''}`).toBe('fulfilled');
      if (swept.status === 'fulfilled' && swept.value.deleted) outcomes.deletedSomething++;
      const check = new FsStore(dir);
      if (pulled.status === 'fulfilled') {
        outcomes.recorded++;
        expect(await missingObjects(check, 'mail', '1'), `round ${round}`).toEqual([]);
      } else {
        outcomes.refused++;
        expect(pulled.reason, `round ${round}`).toBeInstanceOf(GbpError);
        expect((pulled.reason as GbpError).code).toBe('conflict');
        expect((await readState(check, 'mail'))?.builds ?? []).toEqual([]);
      }
      expect(await missingObjects(check, 'web', '2'), `round ${round}`).toEqual([]);
    }
    // the rounds did explore: gc deleted in some, and the pull both won and lost races
    expect(outcomes.recorded).toBeGreaterThan(0);
    expect(outcomes.deletedSomething).toBeGreaterThan(0);
  }, 120_000);
});
