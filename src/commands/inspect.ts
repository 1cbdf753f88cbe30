/** `gbp list` and `gbp show`: what the store holds, as data the CLI prints as tables or JSON. */
import { requireBuild } from '../records/build-manifest.js';
import type { BuildManifest } from '../records/build-manifest.js';
import { buildArtifacts } from '../records/artifacts.js';
import type { ArtifactRecord } from '../records/build-manifest.js';
import type { Store } from '../store/store.js';
import { resolveBuildRef } from '../records/build-ref.js';
import { listMachines, readState, requireState } from '../records/machine-state.js';

export interface MachineSummary {
  machine: string;
  builds: number;
  published: string | null;
  latest: string | null;
  latestAdded: number | null;
  tags: Record<string, string>;
}

export interface BuildSummary {
  id: string;
  added: number;
  published: boolean;
  tags: string[];
  kept: boolean;
  note: string | null;
}

export async function listAll(store: Store): Promise<MachineSummary[]> {
  const out: MachineSummary[] = [];
  for (const machine of await listMachines(store)) {
    const s = await readState(store, machine);
    if (!s) continue;
    const last = s.builds.at(-1);
    out.push({ machine, builds: s.builds.length, published: s.published, latest: last?.id ?? null, latestAdded: last?.added ?? null, tags: s.tags });
  }
  return out;
}

export async function listBuilds(store: Store, machine: string): Promise<BuildSummary[]> {
  const s = await requireState(store, machine);
  return [...s.builds].reverse().map((b) => ({
    id: b.id,
    added: b.added,
    published: s.published === b.id,
    tags: Object.entries(s.tags).filter(([, id]) => id === b.id).map(([t]) => t),
    kept: s.kept.includes(b.id),
    note: s.notes[b.id] ?? null,
  }));
}

export async function showBuild(store: Store, machine: string, ref: string): Promise<{ build: BuildManifest; summary: BuildSummary & { artifacts: ArtifactRecord[] } }> {
  const s = await requireState(store, machine);
  const id = resolveBuildRef(s, ref);
  const build = await requireBuild(store, machine, id);
  const summary = (await listBuilds(store, machine)).find((b) => b.id === id)!;
  return { build, summary: { ...summary, artifacts: await buildArtifacts(store, build) } };
}
