/**
 * Removes builds the retention policy no longer wants: first from the machine's state (one
 * compare-and-swap, so nothing lists them any more), then their build directories. The objects
 * they used stay until `gc` finds them unreferenced and older than its grace period.
 */
import { requireBuild } from '../records/build-manifest.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/store.js';
import { listMachines, requireState, updateState } from '../records/machine-state.js';
import { decideRetention, type RetentionPolicy } from './retention.js';

export interface PurgePlan {
  machine: string;
  /** The builds that go, each with the policy's reason. */
  builds: { id: string; added: number; packagesBytes: number; reason: string }[];
  /** Bytes of packages that only the purged builds use, on any machine: what gc will free. */
  freedBytes: number;
}

export async function planPurge(store: Store, machines: string[] | null, policy: RetentionPolicy, now: number): Promise<PurgePlan[]> {
  const plans: PurgePlan[] = [];
  const chosen = new Set(machines ?? (await listMachines(store)));
  const goneBlobs = new Map<string, { size: number; machine: string }>();
  const keptBlobs = new Set<string>();
  for (const machine of await listMachines(store)) {
    const state = await requireState(store, machine);
    const gone = chosen.has(machine) ? decideRetention(state, policy, now).filter((d) => !d.keep) : [];
    const reasons = new Map(gone.map((d) => [d.id, d.reason]));
    const builds = [];
    for (const b of state.builds) {
      const build = await requireBuild(store, machine, b.id).catch(() => null);
      const packages = build?.binpkgs.packages ?? [];
      const reason = reasons.get(b.id);
      if (reason === undefined) {
        for (const p of packages) keptBlobs.add(p.sha256);
        continue;
      }
      for (const p of packages) goneBlobs.set(p.sha256, { size: p.size, machine });
      builds.push({ id: b.id, added: b.added, packagesBytes: packages.reduce((n, p) => n + p.size, 0), reason });
    }
    if (chosen.has(machine)) plans.push({ machine, builds, freedBytes: 0 });
  }
  for (const [sha, { size, machine }] of goneBlobs) {
    if (!keptBlobs.has(sha)) plans.find((p) => p.machine === machine)!.freedBytes += size;
  }
  return plans;
}

export async function applyPurge(store: Store, plans: PurgePlan[]): Promise<void> {
  for (const plan of plans) {
    if (!plan.builds.length) continue;
    const gone = new Set(plan.builds.map((b) => b.id));
    await updateState(store, plan.machine, (s) => {
      // a build published or tagged since the plan was made stays
      const still = [...gone].filter((id) => id !== s.published && !Object.values(s.tags).includes(id) && !s.kept.includes(id));
      if (!still.some((id) => s.builds.some((b) => b.id === id))) return false;
      s.builds = s.builds.filter((b) => !still.includes(b.id));
      for (const id of still) {
        delete s.notes[id];
        delete s.attached[id];
      }
      return true;
    });
    const state = await requireState(store, plan.machine);
    for (const id of gone) {
      if (state.builds.some((b) => b.id === id)) continue;
      for await (const key of store.list(keys.buildDir(plan.machine, id))) await store.delete(key);
    }
  }
}
