/**
 * purge's planner as a table: a machine's builds (age in days, and what pins them), a policy,
 * and the plan: which builds go, each with the reason `gbp purge --dry-run` prints, and the bytes
 * that only they use. Then the apply: a build published after the plan was made stays.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyPurge, planPurge } from '../../src/maintenance/purge.js';
import type { RetentionPolicy } from '../../src/maintenance/retention.js';
import { readState, updateState, type MachineState } from '../../src/records/machine-state.js';
import { FsStore } from '../../src/store/fs-store.js';
import { keys } from '../../src/store/keys.js';

const NOW = Date.UTC(2026, 10, 22, 12) / 1000; // Sunday 2026-11-22 12:00 UTC
const DAY = 86400;
const sha = (c: string) => c.repeat(64);

interface Build {
  id: string;
  days: number;
  /** Blob letters the build's packages use, 1,000 bytes each. */
  uses: string;
}

/** A store with machine `web`'s builds; `pins` sets published, tags and kept. */
async function store(builds: Build[], pins: Partial<Pick<MachineState, 'published' | 'tags' | 'kept'>> = {}) {
  const s = new FsStore(mkdtempSync(join(tmpdir(), 'gbp-purgeplan-')));
  for (const b of builds) {
    const packages = [...b.uses].map((c) => ({ sha256: sha(c), size: 1000, stanza: { PATH: `p/${c}-1.gpkg.tar` } }));
    await s.put(keys.buildJson('web', b.id), JSON.stringify({ format: 1, machine: 'web', id: b.id, created: NOW - b.days * DAY, parent: null, archive: { source: 'x', sha256: sha('0'), bytes: 1, tarBytes: 1, compression: 'gzip' }, binpkgs: { header: {}, packages }, trees: {}, warnings: [] }));
  }
  const state: MachineState = { format: 1, machine: 'web', builds: builds.map((b) => ({ id: b.id, added: NOW - b.days * DAY })), published: null, tags: {}, kept: [], notes: {}, ...pins } as MachineState;
  await s.put(keys.machineState('web'), JSON.stringify(state));
  return s;
}

const week: Build[] = [
  { id: '1', days: 3.2, uses: 'ab' },
  { id: '2', days: 3.1, uses: 'ac' },
  { id: '3', days: 2.5, uses: 'ad' },
  { id: '4', days: 0.5, uses: 'ae' },
  { id: '5', days: 0.1, uses: 'ae' },
];

describe('the purge plan', () => {
  const cases: [string, Build[], Partial<MachineState>, RetentionPolicy, [string, string][], number][] = [
    ['the default schedule keeps the newest build of each day', week, {}, {}, [['1', 'build 2 is the newest of day 2026-11-19']], 1000],
    ['a published build stays, whatever the policy', week, { published: '1' }, { keepLast: 1 }, [['2', 'not among the 1 newest'], ['3', 'not among the 1 newest'], ['4', 'not among the 1 newest']], 2000],
    ['tagged and kept builds stay', week, { tags: { stable: '2' }, kept: ['3'] }, { keepLast: 1 }, [['1', 'not among the 1 newest'], ['4', 'not among the 1 newest']], 1000],
    ['--max-age keeps what is younger', week, {}, { maxAge: DAY }, [['1', 'older than 1d'], ['2', 'older than 1d'], ['3', 'older than 1d']], 3000],
    ['both rules: a build goes when neither keeps it', week, {}, { keepLast: 3, maxAge: 3 * DAY }, [['1', 'not among the 3 newest and older than 3d'], ['2', 'not among the 3 newest and older than 3d']], 2000],
    ["the machine's newest build stays even when old", [{ id: '7', days: 400, uses: 'a' }, { id: '8', days: 300, uses: 'b' }], {}, { maxAge: DAY }, [['7', 'older than 1d']], 1000],
    ['nothing to purge', week.slice(3), {}, {}, [], 0],
  ];
  it.each(cases)('%s', async (_name, builds, pins, policy, gone, freed) => {
    const s = await store(builds, pins);
    const [plan] = await planPurge(s, ['web'], policy, NOW);
    expect(plan.builds.map((b) => [b.id, b.reason])).toEqual(gone);
    expect(plan.freedBytes).toBe(freed); // blob a is used by builds that stay
  });

  it('a machine not named is planned for nobody, but its builds still hold their blobs', async () => {
    const s = await store(week);
    expect(await planPurge(s, [], {}, NOW)).toEqual([]);
  });

  it('applying removes the planned builds from the state and their directories, except one published since the plan', async () => {
    const s = await store(week);
    const plans = await planPurge(s, ['web'], { keepLast: 1 }, NOW);
    expect(plans[0].builds.map((b) => b.id)).toEqual(['1', '2', '3', '4']);
    await updateState(s, 'web', (st) => {
      st.published = '2';
      return true;
    });
    await applyPurge(s, plans);
    expect((await readState(s, 'web'))!.builds.map((b) => b.id)).toEqual(['2', '5']);
    expect(await s.exists(keys.buildJson('web', '1'))).toBe(false);
    expect(await s.exists(keys.buildJson('web', '2'))).toBe(true);
  });
});
