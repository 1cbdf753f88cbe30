/**
 * What a pull can reuse instead of storing again. Loaded before the archive is read, from the
 * machine's previous build (its parent) and the latest build of every other machine:
 * - binary packages by SHA-1 (the build's own Packages names SIZE/MD5/SHA1 before the files, so
 *   a package already stored is only hashed to confirm, never written);
 * - tree file contents by SHA-256, with their pack locations. Only a SHA-256 computed from an
 *   archive's own bytes finds them (invariant 7): nothing another build claims is taken on trust.
 * Trees come from the parent, and from other machines only for tree names the parent lacks: a new
 * machine shares the snapshot of its neighbours, and loading every machine's 124k-entry tree on
 * every pull would cost more than the few duplicate files it saves.
 */
import { loadBuild, type BuildManifest, type PackageRecord } from '../records/build-manifest.js';
import { forEachTreeEntry } from '../records/tree-manifest.js';
import { keys } from '../store/keys.js';
import { sha256Hex } from '../util/sha256.js';
import type { Store } from '../store/store.js';
import { listMachines, readState } from '../records/machine-state.js';

/** Where known bytes are: a pack, an offset in it and a size. */
export interface KnownLocation {
  pack: string | null;
  offset: number;
  size: number;
  /** The content's SHA-256 as the map already holds it: entries that reuse the content share the string. */
  sha256?: string | null;
}

export class KnownContent {
  readonly byHash = new Map<string, KnownLocation>();
  /** Tree names whose content is loaded (one snapshot per name is enough). */
  readonly treeNames = new Set<string>();
  readonly binpkgsBySha1 = new Map<string, PackageRecord>();
  parent: BuildManifest | null = null;

  /** Reads a stored tree manifest entry by entry (never the whole tree as one JSON document). */
  addTree(name: string, manifest: Buffer): void {
    forEachTreeEntry(manifest, (e) => {
      if (e.type !== 'f' || !e.sha256 || !e.pack) return;
      if (!this.byHash.has(e.sha256)) this.byHash.set(e.sha256, { pack: e.pack, offset: e.offset, size: e.size, sha256: e.sha256 });
    });
    this.treeNames.add(name);
  }
}

export async function loadKnownContent(store: Store, machine: string): Promise<KnownContent> {
  const known = new KnownContent();
  const latest: BuildManifest[] = [];
  for (const m of await listMachines(store)) {
    const state = await readState(store, m);
    const last = state?.builds.at(-1);
    if (!last) continue;
    const build = await loadBuild(store, m, last.id);
    if (!build) continue;
    if (m === machine) known.parent = build;
    else latest.push(build);
  }
  latest.sort((a, b) => b.created - a.created);
  const sources = known.parent ? [known.parent, ...latest] : latest;
  for (const build of sources) {
    for (const p of build.binpkgs.packages) if (!known.binpkgsBySha1.has(p.sha1)) known.binpkgsBySha1.set(p.sha1, p);
  }
  const loaded = new Set<string>();
  for (const build of sources) {
    for (const [name, ref] of Object.entries(build.trees)) {
      if (known.treeNames.has(name) || loaded.has(ref.manifest)) continue;
      const data = await store.get(keys.tree(ref.manifest));
      if (!data) continue; // a tree gc already removed: nothing to reuse
      // what it says is where known bytes are: a manifest changed in place (a bucket anyone with
      // its keys can write) would point this build at other bytes, so it must be the one named
      if (sha256Hex(data) !== ref.manifest) continue;
      loaded.add(ref.manifest);
      known.addTree(name, data);
    }
  }
  return known;
}
