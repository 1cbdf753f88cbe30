/**
 * Garbage collection by mark and sweep (invariant 6). Mark: every build of every machine's state,
 * its packages' blobs, its tree manifests and the packs they point into. Sweep: blobs, trees,
 * packs and build directories nobody marks, but only those older than the grace period and not
 * leased by a pull in flight (in-flight.ts), so a publish or a client holding yesterday's index
 * never meets a 404. Each object's age is checked again just before it goes. A pack stays whole while
 * any of its files is used.
 *
 * A real run is `runGc`: sweep marker, then the leases, then the mark and the plan, then deletes —
 * the order in-flight.ts proves safe beside pulls. `--dry-run` plans without a marker and says
 * whether the real run would refuse (the guard is part of the plan).
 */
import { GbpError } from '../errors.js';
import { forEachTreeEntry } from '../records/tree-manifest.js';
import { keys } from '../store/keys.js';
import { sha256Hex } from '../util/sha256.js';
import type { Store } from '../store/store.js';
import { leasedKeys, SweepMarkerHandle } from '../store/in-flight.js';
import { recordedBuilds } from '../records/recorded-builds.js';

export interface GcPlan {
  /** Object groups to delete: a blob directory, a tree, a pack, a build directory. */
  garbage: { keys: string[]; bytes: number; what: string }[];
  /** Unreferenced but younger than the grace period. */
  tooYoung: number;
  /** Unreferenced, old enough, but leased by a pull in flight. */
  leased: number;
  /** How many object groups the store holds in all (for the guard). */
  total: number;
  /** Why the run refuses (more than GC_GUARD of the store), or null. */
  refusal: string | null;
}

export interface GcOptions {
  graceSeconds: number;
  force?: boolean;
  dryRun?: boolean;
  now?: () => number;
  onProgress?: (text: string) => void;
}

export interface GcResult extends GcPlan {
  dryRun: boolean;
  deleted: number;
  bytes: number;
}

/** Plans and (unless a dry run) sweeps, in the order in-flight.ts proves safe beside pulls. */
export async function runGc(store: Store, o: GcOptions): Promise<GcResult> {
  const now = o.now ?? (() => Math.floor(Date.now() / 1000));
  if (o.dryRun) {
    const plan = await planGc(store, o.graceSeconds, now(), { onProgress: o.onProgress, leased: await leasedGroups(store, true), force: o.force });
    return { ...plan, dryRun: true, deleted: 0, bytes: sumBytes(plan) };
  }
  const sweep = await SweepMarkerHandle.begin(store);
  try {
    const leased = await leasedGroups(store, false);
    const plan = await planGc(store, o.graceSeconds, now(), { onProgress: o.onProgress, leased, force: o.force, beat: () => sweep.beat() });
    if (plan.refusal) throw new GbpError('conflict', 'gc', plan.refusal);
    const deleted = await applyGc(store, plan, o.graceSeconds, now, () => sweep.beat());
    return { ...plan, dryRun: false, deleted, bytes: sumBytes(plan) };
  } finally {
    await sweep.finish();
  }
}

const sumBytes = (plan: GcPlan) => plan.garbage.reduce((n, g) => n + g.bytes, 0);

/** The gc groups pulls in flight lease now; a dry run reads them without removing expired ones. */
async function leasedGroups(store: Store, readOnly: boolean): Promise<Set<string>> {
  return new Set([...(await leasedKeys(store, { readOnly }))].map(groupOf));
}

interface PlanOptions {
  onProgress?: (text: string) => void;
  /** Groups pulls in flight lease: never garbage. */
  leased?: Set<string>;
  force?: boolean;
  /** Renews the sweep marker while the mark runs. */
  beat?: () => Promise<void>;
}

export async function planGc(store: Store, graceSeconds: number, now: number, o: PlanOptions = {}): Promise<GcPlan> {
  const onProgress = o.onProgress ?? (() => {});
  // sweep candidates are listed before the mark: anything a publish adds later is simply not a candidate
  const groups = new Map<string, { keys: string[]; what: string }>();
  const add = (group: string, key: string, what: string) => {
    const g = groups.get(group) ?? { keys: [], what };
    g.keys.push(key);
    groups.set(group, g);
  };
  for await (const key of store.list('blobs/')) add(`blob:${key.split('/')[2]}`, key, `blob ${key.split('/')[2]}`);
  for await (const key of store.list('trees/')) add(`tree:${key}`, key, `tree ${key.split('/')[2]}`);
  for await (const key of store.list('packs/')) add(`pack:${key}`, key, `pack ${key.split('/')[2]}`);
  for await (const key of store.list('builds/')) {
    const [, machine, id] = key.split('/');
    add(`build:${machine}/${id}`, key, `build ${machine} ${id}`);
  }

  const live = new Set<string>();
  for await (const { machine, id, build } of recordedBuilds(store)) {
    live.add(`build:${machine}/${id}`);
    await o.beat?.();
    onProgress(`marking ${machine} ${id} (${live.size} objects in use so far)`);
    if (!build) continue;
    for (const p of build.binpkgs.packages) live.add(`blob:${p.sha256}`);
    for (const ref of Object.values(build.trees)) {
      const treeKey = keys.tree(ref.manifest);
      if (live.has(`tree:${treeKey}`)) continue;
      live.add(`tree:${treeKey}`);
      const data = await store.get(treeKey);
      if (!data) continue;
      // what a changed manifest names is not what the build uses: nothing is swept on its word
      if (sha256Hex(data) !== ref.manifest) throw new GbpError('store', treeKey, `tree manifest of ${machine} ${id} does not match its SHA-256, so the packs it uses are unknown; nothing collected (see gbp fsck)`);
      forEachTreeEntry(data, (e) => e.pack && live.add(`pack:${keys.pack(e.pack)}`));
    }
  }

  const plan: GcPlan = { garbage: [], tooYoung: 0, leased: 0, total: groups.size, refusal: null };
  for (const [group, g] of groups) {
    if (live.has(group)) continue;
    if (o.leased?.has(group)) {
      plan.leased++;
      continue; // a pull in flight is about to reference it
    }
    const stats = await Promise.all(g.keys.map((k) => store.stat(k)));
    const newest = Math.max(...stats.map((s) => s?.mtime ?? 0));
    if (now - newest < graceSeconds) {
      plan.tooYoung++;
      continue;
    }
    plan.garbage.push({ keys: g.keys, what: g.what, bytes: stats.reduce((n, s) => n + (s?.size ?? 0), 0) });
  }
  if (!o.force && plan.total >= 10 && plan.garbage.length > plan.total * GC_GUARD) {
    plan.refusal = `would delete ${plan.garbage.length} of ${plan.total} objects (more than ${GC_GUARD * 100} %); check the machines' state, then run with --force`;
  }
  return plan;
}

/** Refuses to delete more than this share of the store unless forced: a broken state file must not empty it. */
export const GC_GUARD = 0.5;

/** The gc group an object belongs to (a blob's file and meta.json are one group). */
function groupOf(key: string): string {
  if (key.startsWith('blobs/')) return `blob:${key.split('/')[2]}`;
  if (key.startsWith('trees/')) return `tree:${key}`;
  if (key.startsWith('packs/')) return `pack:${key}`;
  return key;
}

/** Deletes the plan's groups, each only if still old enough (used again meanwhile otherwise). */
async function applyGc(store: Store, plan: GcPlan, graceSeconds: number, now: () => number, beat: () => Promise<void>): Promise<number> {
  let deleted = 0;
  for (const g of plan.garbage) {
    await beat();
    const stats = await Promise.all(g.keys.map((k) => store.stat(k)));
    if (stats.some((s) => s && now() - s.mtime < graceSeconds)) continue;
    // the marker first: a blob without meta.json is not trusted by pulls
    const ordered = [...g.keys].sort((a, b) => Number(b.endsWith('/meta.json')) - Number(a.endsWith('/meta.json')));
    for (const key of ordered) await store.delete(key);
    deleted++;
  }
  return deleted;
}
