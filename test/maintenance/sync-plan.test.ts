/**
 * gbp sync's plan, in the style of Hugo's deploy tests: the same scenario's counts on a first run,
 * a no-op re-run, a change and a no-op again; and a dry run's plan is the real run's, to the object.
 */
import { describe, expect, it } from 'vitest';
import { gbp, snapshot, tempDir } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';

const BUILD1 = fixture('build-archive/build.tar.gz');
const BUILD2 = fixture('build-archive/build2.tar.gz');

describe('the sync plan between two directories', () => {
  it('first run, no-op, change, no-op, marks only, no-op: each dry run says exactly what the real run then does', async () => {
    const from = tempDir();
    const to = tempDir();
    const g = (...a: string[]) => gbp(['--store', from, ...a]);
    expect((await g('pull', BUILD1, '-m', 'web', '-b', '1', '--publish')).code).toBe(0);
    expect((await g('pull', BUILD2, '-m', 'web', '-b', '2')).code).toBe(0);
    const counts = (r: { json(): { builds: unknown[]; states: unknown[]; objects: number; bytes: number; present: number } }) => {
      const j = r.json();
      return { builds: j.builds.length, objects: j.objects, bytes: j.bytes, present: j.present, states: j.states };
    };
    const step = async () => {
      const before = snapshot(to);
      const dry = await gbp(['--json', 'sync', from, to, '--dry-run']);
      expect(dry.code, dry.stderr).toBe(0);
      expect(snapshot(to)).toEqual(before); // a plan writes nothing
      const real = await gbp(['--json', 'sync', from, to]);
      expect(real.code, real.stderr).toBe(0);
      expect(counts(real)).toEqual(counts(dry));
      return counts(real);
    };
    const first = await step();
    expect(first.builds).toBe(2);
    expect(first.states).toEqual([{ machine: 'web', changes: ['published nothing → 1'] }]);
    expect(first.objects).toBeGreaterThan(0);
    const none = { builds: 0, objects: 0, bytes: 0, present: 0, states: [] };
    expect(await step()).toEqual(none);
    expect((await g('pull', BUILD1, '-m', 'mail', '-b', '1', '--publish')).code).toBe(0);
    const change = await step();
    expect(change.builds).toBe(1);
    // mail 1's packages are all web's: only its own small pack (files web 2 dropped) goes
    expect(change.bytes).toBeLessThan(first.bytes / 10);
    expect(change.present).toBeGreaterThan(0);
    expect(change.states).toEqual([{ machine: 'mail', changes: ['published nothing → 1'] }]);
    expect(await step()).toEqual(none);
    // marks alone: a publish, a tag, a keep and a note move over without a build
    for (const a of [['publish', 'web', '2'], ['tag', 'web', '1', 'stable'], ['keep', 'web', '1'], ['note', 'web', '2', 'kernel 6.12']]) {
      expect((await g(...a)).code).toBe(0);
    }
    const marks = await step();
    expect(marks).toEqual({ ...none, states: [{ machine: 'web', changes: ['published 1 → 2', 'tag stable → 1', 'keep 1', 'note on 2'] }] });
    expect((await gbp(['--store', to, '--json', 'show', 'web', '@'])).json()).toMatchObject({ build: { id: '2' } });
    expect(await step()).toEqual(none);
  });
});
