/** `gbp diff` and `gbp log`: what changed between two builds, and in which builds a package changed. */
import { loadBuild, requireBuild } from '../records/build-manifest.js';
import type { BuildManifest } from '../records/build-manifest.js';
import type { Store } from '../store/store.js';
import { resolveBuildRef } from '../records/build-ref.js';
import { diffBuilds, diffPackages, type BuildDiff, type PackageChange } from '../records/build-diff.js';
import { requireState } from '../records/machine-state.js';
import { assertName } from '../records/names.js';

export async function diff(store: Store, machine: string, refA: string, refB: string): Promise<BuildDiff> {
  assertName('machine name', machine);
  const state = await requireState(store, machine);
  const [a, b] = [resolveBuildRef(state, refA), resolveBuildRef(state, refB)];
  return diffBuilds(store, await requireBuild(store, machine, a), await requireBuild(store, machine, b));
}

export interface LogEntry extends PackageChange {
  build: string;
  previous: string;
  added: number;
}

/**
 * Every build, oldest first, in which `pkg` (`category/name` or just `name`) changed from the
 * build before it: the list to bisect a bad package with.
 */
export async function packageLog(store: Store, machine: string, pkg: string): Promise<LogEntry[]> {
  assertName('machine name', machine);
  const state = await requireState(store, machine);
  const matches = (key: string) => {
    const name = key.split(':')[0];
    return name === pkg || name.split('/')[1] === pkg;
  };
  const out: LogEntry[] = [];
  let previous: BuildManifest | null = null;
  for (const entry of state.builds) {
    const current = await loadBuild(store, machine, entry.id);
    if (!current) continue;
    const changes = diffPackages(previous?.binpkgs.packages ?? [], current.binpkgs.packages).filter((c) => matches(c.package));
    for (const c of changes) out.push({ ...c, build: current.id, previous: previous?.id ?? '', added: entry.added });
    previous = current;
  }
  return out;
}
