/**
 * updateState given the state as read before (sync reads it at its start and records a build
 * minutes later): a read that went stale meanwhile must never lose the other writer's change,
 * nor skip a change it still has to make.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readState, updateState } from '../../src/records/machine-state.js';
import { FsStore } from '../../src/store/fs-store.js';
import { keys } from '../../src/store/keys.js';

const fresh = () => new FsStore(mkdtempSync(join(tmpdir(), 'gbp-state-')));

const tag = (name: string, id: string) => (s: { tags: Record<string, string> }) => {
  if (s.tags[name] === id) return false;
  s.tags[name] = id;
  return true;
};

describe('updateState with the state as read before', () => {
  it('writes from a current read without reading again, and the write is the record', async () => {
    const s = fresh();
    await updateState(s, 'web', tag('stable', '1'));
    const read = await s.getVersioned(keys.machineState('web'));
    const written = await updateState(s, 'web', tag('testing', '1'), read);
    expect(written.tags).toEqual({ stable: '1', testing: '1' });
    expect((await readState(s, 'web'))!.tags).toEqual({ stable: '1', testing: '1' });
  });

  it('a read gone stale loses no change another writer made since', async () => {
    const s = fresh();
    await updateState(s, 'web', tag('stable', '1'));
    const stale = await s.getVersioned(keys.machineState('web'));
    await updateState(s, 'web', tag('other', '2')); // another publisher, between the read and the write
    await updateState(s, 'web', tag('testing', '1'), stale);
    expect((await readState(s, 'web'))!.tags).toEqual({ stable: '1', other: '2', testing: '1' });
  });

  it('"nothing to write" is not trusted of a stale read: the change is made on the current state', async () => {
    const s = fresh();
    await updateState(s, 'web', tag('stable', '1'));
    const stale = await s.getVersioned(keys.machineState('web'));
    await updateState(s, 'web', tag('stable', '2')); // moved meanwhile
    // by the stale read, stable is already 1 and there is nothing to do; by the record, there is
    const after = await updateState(s, 'web', tag('stable', '1'), stale);
    expect(after.tags.stable).toBe('1');
    expect((await readState(s, 'web'))!.tags.stable).toBe('1');
  });

  it('a machine with no state when read, created by another writer since, keeps what that writer wrote', async () => {
    const s = fresh();
    const none = await s.getVersioned(keys.machineState('web'));
    expect(none).toBeNull();
    await updateState(s, 'web', tag('first', '1'));
    await updateState(s, 'web', tag('second', '1'), none);
    expect((await readState(s, 'web'))!.tags).toEqual({ first: '1', second: '1' });
  });
});
