/**
 * The write order of DESIGN.md, in one place for every writer of a build (a pull's commit, and
 * sync copying a build into another store). Invariant 1: nothing references an object that is not
 * yet durably stored.
 *   content (blobs, packs) | barrier | markers (blob meta.json, tree manifests) | barrier
 *   | lease what is reused | build.json → the build's Packages → (sync: page facts) → the
 *   machine's state (compare-and-swap) | release the lease
 * The barriers batch the flushes (one per phase, not one per object). Into a bucket, where a PUT
 * is stored when it returns, sync writes a package's meta.json right after its blob's PUT (the
 * same order per object, without waiting for all content). build.json is created only
 * if absent: of two writers of the same id exactly one records it, and the other finds out whether
 * it carried the same archive (a no-op that completes what a killed writer left) or a different one
 * (refused). A crash anywhere leaves at worst unreferenced objects, which gc removes after its
 * grace period; old objects the build reuses are leased while it is recorded (store/in-flight.ts).
 */
import { GbpError } from '../errors.js';
import { keys } from '../store/keys.js';
import type { SiteSettings } from '../store/site.js';
import type { Store, Versioned } from '../store/store.js';
import { leaseReusedObjects } from '../store/in-flight.js';
import { updateState, type MachineState } from '../records/machine-state.js';
import { writeIndexFor } from '../records/index-pair.js';
import { parseBuildManifest, type BuildManifest } from '../records/build-manifest.js';
import type { SiteSecretKey } from '../trust/site-key.js';
import { signBuild } from '../records/record-signatures.js';

export interface CommitResult {
  manifest: BuildManifest;
  /** True when the same archive had already been recorded under this id. */
  existed: boolean;
  /** The machine's state as the build's record left it. */
  state: MachineState;
}

export interface OrderedWrites {
  /** Names the lease (`<machine>-<id>`). */
  label: string;
  /** When the writer began reading what it reuses (unix seconds): gc sweeps since then are checked. */
  started: number;
  /** Blobs and packs; durable at the first barrier. */
  content(): Promise<void>;
  /** Blob meta.json and tree manifests; durable at the second. Returns the record and what it reuses and wrote. */
  markers(): Promise<{ manifest: BuildManifest; reused: string[]; written: string[] }>;
  /** Signs the record with the site key, just before it is written (records/record-signatures.ts). */
  siteKey?: SiteSecretKey;
  /** The record's bytes as another store holds them (sync), so its signatures hold here too. */
  recordBytes?: Buffer;
  /** After the build's index, before the machine's state (sync: the page facts and signatures). */
  beforeRecord?(manifest: BuildManifest): Promise<void>;
  /** More to change in the machine's state, in the compare-and-swap that records the build; true when it changed something. */
  alsoRecord?(state: MachineState): boolean;
  /** The machine's state as the writer read it before (null: none), tried first by that compare-and-swap. */
  stateRead?: Versioned | null;
}

export async function writeInOrder(store: Store, site: SiteSettings, w: OrderedWrites): Promise<CommitResult> {
  await w.content();
  await store.barrier();
  const { manifest, reused, written } = await w.markers();
  await store.barrier();
  const lease = await leaseReusedObjects(store, w.label, w.started, reused, written);
  try {
    const buildKey = keys.buildJson(manifest.machine, manifest.id);
    const text = w.recordBytes ?? Buffer.from(`${JSON.stringify(manifest, null, 1)}\n`);
    // the signature first: a reader that finds the record finds it signed, and a pull killed
    // between the two signs again when re-run (the record is still absent then)
    if (w.siteKey && !(await store.exists(buildKey))) await signBuild(store, w.siteKey, manifest.machine, manifest.id, text);
    const created = await store.putIfAbsent(buildKey, text, { immutable: true, contentType: 'application/json' });
    let recorded = manifest;
    if (!created) {
      recorded = parseBuildManifest((await store.get(buildKey))!, buildKey);
      assertSameArchive(recorded, manifest.archive.sha256);
    }
    // the build's index and what goes beside the record do not depend on each other; both come before the state
    await Promise.all([writeBuildIndex(store, site, recorded, created), w.beforeRecord?.(recorded)]);
    const state = await recordBuild(store, recorded, w.alsoRecord, w.stateRead);
    return { manifest: recorded, existed: !created, state };
  } finally {
    await lease.release();
  }
}

/**
 * Finishes what a pull killed after build.json left undone (invariant 3: re-running repairs):
 * the build's own index and its entry in the machine's state. Both steps are idempotent.
 */
export async function completeBuild(store: Store, site: SiteSettings, build: BuildManifest): Promise<void> {
  await writeBuildIndex(store, site, build);
  await recordBuild(store, build);
}

/**
 * The build's own Packages + Packages.gz, unless they serve it already (with this store's base
 * URL: a synced build gets the destination's). `fresh`: the record was just created, so there is
 * nothing to read first.
 */
export async function writeBuildIndex(store: Store, site: SiteSettings, build: BuildManifest, fresh = false): Promise<void> {
  await writeIndexFor(store, site, keys.buildBinpkgs(build.machine, build.id), build, { fresh });
}

/**
 * Adds the build to its machine's state (idempotent: re-running a crashed pull repairs it), with
 * `also`'s change in the same write; `read`, the state as read before, saves reading it again.
 */
export async function recordBuild(store: Store, build: BuildManifest, also?: (state: MachineState) => boolean, read?: Versioned | null): Promise<MachineState> {
  return updateState(
    store,
    build.machine,
    (state) => {
      const add = !state.builds.some((b) => b.id === build.id);
      if (add) state.builds.push({ id: build.id, added: build.created });
      return (also?.(state) ?? false) || add;
    },
    read,
  );
}

export function assertSameArchive(existing: BuildManifest, sha256: string): void {
  if (existing.archive.sha256 !== sha256) {
    throw new GbpError(
      'conflict',
      `${existing.machine} ${existing.id}`,
      `build ${existing.id} of ${existing.machine} already exists with different content (archive sha256 ${existing.archive.sha256.slice(0, 12)}…, this one ${sha256.slice(0, 12)}…); builds are immutable, use a new build id`,
    );
  }
}
