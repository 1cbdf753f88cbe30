/**
 * machines/<m>/state.json: the ONLY mutable record per machine (builds, published, tags, kept,
 * notes). It moves only by compare-and-swap (invariant 5): read with its version, change a copy,
 * write if the version still holds, otherwise read again and re-apply the change.
 */
import { GbpError } from '../errors.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/store.js';

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
}

export function emptyState(machine: string): MachineState {
  return { format: 1, machine, builds: [], published: null, tags: {}, kept: [], notes: {} };
}

export async function readState(store: Store, machine: string): Promise<MachineState | null> {
  const raw = await store.get(keys.machineState(machine));
  return raw ? (JSON.parse(raw.toString('utf8')) as MachineState) : null;
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
 */
export async function updateState(
  store: Store,
  machine: string,
  change: (state: MachineState) => boolean,
): Promise<MachineState> {
  const key = keys.machineState(machine);
  for (let attempt = 0; attempt < 50; attempt++) {
    const current = await store.getVersioned(key);
    const state = current ? (JSON.parse(current.data.toString('utf8')) as MachineState) : emptyState(machine);
    if (!change(state)) return state;
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
    if (m) machines.push(m[1]);
  }
  return machines.sort();
}
