/**
 * Every build the machines' states record, with its manifest (null when build.json is missing):
 * the one walk over the store that gc marks from and fsck checks.
 */
import type { BuildManifest } from './build-manifest.js';
import { loadBuild } from './build-manifest.js';
import type { Store } from '../store/store.js';
import { listMachines, readState, type MachineState } from './machine-state.js';

export interface RecordedBuild {
  machine: string;
  state: MachineState;
  id: string;
  build: BuildManifest | null;
}

export async function* recordedBuilds(store: Store): AsyncGenerator<RecordedBuild> {
  for (const machine of await listMachines(store)) {
    const state = await readState(store, machine);
    if (!state) continue;
    for (const b of state.builds) yield { machine, state, id: b.id, build: await loadBuild(store, machine, b.id) };
  }
}
