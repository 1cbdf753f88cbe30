/**
 * machines/<m>/state.json: the ONLY mutable record per machine (builds, published, tags, kept,
 * notes). It moves only by compare-and-swap (invariant 5): read with its version, change a copy,
 * write if the version still holds, otherwise read again and re-apply the change.
 */
import { GbpError } from '../errors.js';
import { keys } from '../store/keys.js';
import { isSafeName } from './names.js';
import type { Store, Versioned } from '../store/store.js';

export interface BuildEntry {
  id: string;
  /** Unix seconds when the build was recorded. */
  added: number;
}

export interface MachineState {
  format: 1;
  machine: string;
  builds: BuildEntry[];
  published: string | null;
  tags: Record<string, string>;
  kept: string[];
  notes: Record<string, string>;
  /** How many artifacts were attached to a build after it was recorded (gbp attach): pages and sync follow it. */
  attached: Record<string, number>;
}

export function emptyState(machine: string): MachineState {
  return { format: 1, machine, builds: [], published: null, tags: Object.create(null), kept: [], notes: Object.create(null), attached: Object.create(null) };
}

export async function readState(store: Store, machine: string): Promise<MachineState | null> {
  const key = keys.machineState(machine);
  const raw = await store.get(key);
  return raw ? parseState(raw, key, machine) : null;
}

/**
 * Reads a state record strictly: a planted or damaged file is a store error naming it, never a
 * crash, and tags and notes live in prototype-free maps, so a tag or build id called
 * `constructor` or `__proto__` is only a name.
 */
export function parseState(raw: Buffer, key: string, machine: string): MachineState {
  let v: Partial<MachineState>;
  try {
    v = JSON.parse(raw.toString('utf8')) as Partial<MachineState>;
  } catch {
    throw new GbpError('store', key, 'is not valid JSON (damaged or not written by gbp)');
  }
  const isMap = (m: unknown) => !!m && typeof m === 'object' && !Array.isArray(m) && Object.values(m).every((x) => typeof x === 'string');
  const ok =
    v && v.format === 1 && Array.isArray(v.builds) && v.builds.every((b) => b && typeof b.id === 'string' && typeof b.added === 'number') &&
    (v.published === null || typeof v.published === 'string') && isMap(v.tags) && isMap(v.notes) && Array.isArray(v.kept) && v.kept.every((k) => typeof k === 'string');
  const attachedOk = v.attached === undefined || (!!v.attached && typeof v.attached === 'object' && Object.values(v.attached).every((n) => Number.isInteger(n)));
  if (!ok || !attachedOk) throw new GbpError('store', key, 'is not a machine state record of format 1');
  return {
    format: 1,
    machine,
    builds: v.builds!.map((b) => ({ id: b.id, added: b.added })),
    published: v.published!,
    tags: Object.assign(Object.create(null) as Record<string, string>, v.tags),
    kept: [...v.kept!],
    notes: Object.assign(Object.create(null) as Record<string, string>, v.notes),
    attached: Object.assign(Object.create(null) as Record<string, number>, v.attached),
  };
}

/** The machine's state, or a not-found error naming the store. */
export async function requireState(store: Store, machine: string): Promise<MachineState> {
  const s = await readState(store, machine);
  if (!s) throw new GbpError('not-found', machine, `no machine '${machine}' in ${store.location}`);
  return s;
}

/**
 * Applies `change` to the machine's state by compare-and-swap. `change` gets a fresh copy each
 * attempt and returns false when there is nothing to write. Returns the state as written.
 * `read`: the record as the caller last read it (null: there was none), tried first instead of a
 * round trip to read it again; if it has changed since, the swap fails and the next attempt reads.
 */
export async function updateState(
  store: Store,
  machine: string,
  change: (state: MachineState) => boolean,
  read?: Versioned | null,
): Promise<MachineState> {
  const key = keys.machineState(machine);
  for (let attempt = 0; attempt < 50; attempt++) {
    const given = attempt === 0 && read !== undefined;
    const current = given ? read : await store.getVersioned(key);
    const state = current ? parseState(current.data, key, machine) : emptyState(machine);
    // "nothing to write" is trusted only of a fresh read: the swap checks a write, nothing checks a skip
    if (!change(state)) {
      if (given) continue;
      return state;
    }
    const data = `${JSON.stringify(state, null, 2)}\n`;
    if (await store.putIfVersion(key, data, current?.version ?? null, { contentType: 'application/json' })) return state;
    await new Promise((r) => setTimeout(r, Math.random() * 20 * (attempt + 1)));
  }
  throw new GbpError('conflict', key, 'gave up after 50 concurrent updates; try again');
}

/** Every machine that has a state record. Lists only the machines/ prefix. */
export async function listMachines(store: Store): Promise<string[]> {
  const machines: string[] = [];
  for await (const key of store.list('machines/')) {
    const m = /^machines\/([^/]+)\/state\.json$/.exec(key);
    if (m && isSafeName(m[1])) machines.push(m[1]); // a planted directory with another name is no machine
  }
  return machines.sort();
}
