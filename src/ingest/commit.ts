/**
 * Makes an ingested build visible, in the order of DESIGN.md (invariant 1: nothing references an
 * object that is not yet durably stored):
 *   blobs, packs | barrier | blob meta.json, tree manifests | barrier | build.json
 *   → the build's Packages → the machine's state (compare-and-swap)
 * Old objects the build reuses are leased for the moment it is recorded (store/in-flight.ts).
 * A blob's meta.json is what tells later pulls the blob is there, so it is written only once the
 * blob is durable; the barriers batch the flushes (one per phase, not one per object).
 * build.json is created only if absent: of two pulls of the same id exactly one records it, and
 * the other finds out whether it carried the same archive (a no-op) or a different one (refused).
 * A crash anywhere leaves at worst unreferenced objects, which gc removes after its grace period.
 */
import { GbpError } from '../errors.js';
import { renderIndex } from '../binpkg/index-render.js';
import { keys } from '../store/keys.js';
import { publishIndexPair } from '../records/index-pair.js';
import type { SiteSettings } from '../store/site.js';
import type { Store } from '../store/store.js';
import { updateState } from '../records/machine-state.js';
import { leaseReusedObjects } from '../store/in-flight.js';
import { forEachLimit } from '../util/pool.js';
import { BUILD_FORMAT, parseBuildManifest, type BuildManifest, type TreeRef } from '../records/build-manifest.js';
import type { IngestResult } from './ingest.js';
import { encodeTree } from '../records/tree-manifest.js';

const PARALLEL_PUTS = 8;

export interface CommitResult {
  manifest: BuildManifest;
  /** True when the same archive had already been recorded under this id. */
  existed: boolean;
}

export async function commitBuild(
  store: Store,
  site: SiteSettings,
  machine: string,
  id: string,
  parent: string | null,
  ingest: IngestResult,
  created: number,
  /** When the pull began reading what it reuses (unix seconds): gc sweeps since then are checked. */
  started: number,
): Promise<CommitResult> {
  const deferred = { immutable: true, deferSync: true };
  // What a pull that died uploaded is not sent again: blobs the intake found in their directory,
  // and packs (named by their content) found here, one existence check per new pack.
  const alreadyStored: string[] = [];
  await forEachLimit(ingest.newBlobs, PARALLEL_PUTS, async ({ file, record, storedNames }) => {
    const name = record.stanza.PATH.split('/').pop()!;
    const key = keys.blob(record.sha256, name);
    if (storedNames.has(name) && (await store.stat(key))?.size === record.size) return void alreadyStored.push(key);
    await store.putFile(key, file, { ...deferred, contentType: 'application/x-tar', sha256: record.sha256 });
  });
  await forEachLimit(ingest.packs, PARALLEL_PUTS, async (pack) => {
    const stored = await store.stat(keys.pack(pack.id));
    if (stored?.size === pack.size) return void alreadyStored.push(keys.pack(pack.id));
    await store.putFile(keys.pack(pack.id), pack.path, { ...deferred, contentType: 'application/octet-stream' });
  });
  await store.barrier();

  await forEachLimit(ingest.newBlobs, PARALLEL_PUTS, async ({ record }) => {
    const { origin: _origin, ...meta } = record;
    await store.putIfAbsent(keys.blobMeta(record.sha256), `${JSON.stringify(meta)}\n`, { ...deferred, contentType: 'application/json' });
  });
  const trees: Record<string, TreeRef> = {};
  const reused = new Set<string>(alreadyStored);
  const written = new Set(ingest.packs.map((p) => p.id));
  for (const [name, entries] of [...ingest.trees].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const { data, sha256 } = encodeTree(entries);
    if (!(await store.putIfAbsent(keys.tree(sha256), data, { ...deferred, contentType: 'application/gzip' }))) reused.add(keys.tree(sha256));
    const files = entries.filter((e) => e.type === 'f');
    trees[name] = { manifest: sha256, files: files.length, bytes: files.reduce((n, e) => n + e.size, 0) };
    if (name.startsWith('repos/')) trees[name].signedManifest = ingest.signedManifests.has(name);
    for (const e of files) if (e.pack && !written.has(e.pack)) reused.add(keys.pack(e.pack));
  }
  await store.barrier();
  // Objects this build shares with older ones: a lease keeps a concurrent gc off them (invariant 6).
  const fresh = new Set(ingest.newBlobs.map((b) => b.record.sha256));
  for (const p of ingest.packages) if (!fresh.has(p.sha256)) reused.add(keys.blobMeta(p.sha256));
  const manifest: BuildManifest = {
    format: BUILD_FORMAT,
    machine,
    id,
    created,
    parent,
    archive: ingest.archive,
    binpkgs: { header: ingest.header, packages: ingest.packages },
    trees,
    warnings: ingest.warnings,
  };
  // What this pull wrote is checked too when a sweep overlapped: one may have deleted a content-named
  // pack or blob between its age check and its delete, just as this pull re-created it.
  const ownKeys: string[] = [];
  for (const { record } of ingest.newBlobs) ownKeys.push(keys.blob(record.sha256, record.stanza.PATH.split('/').pop()!), keys.blobMeta(record.sha256));
  for (const pack of ingest.packs) ownKeys.push(keys.pack(pack.id));
  for (const ref of Object.values(trees)) ownKeys.push(keys.tree(ref.manifest));
  const lease = await leaseReusedObjects(store, `${machine}-${id}`, started, [...reused], ownKeys.filter((k) => !reused.has(k)));
  try {
    return await recordCommit(store, site, manifest);
  } finally {
    await lease.release();
  }
}

/** build.json (create-if-absent), then the build's index, then the machine's state. */
async function recordCommit(store: Store, site: SiteSettings, manifest: BuildManifest): Promise<CommitResult> {
  const buildKey = keys.buildJson(manifest.machine, manifest.id);
  const created1 = await store.putIfAbsent(buildKey, `${JSON.stringify(manifest, null, 1)}\n`, {
    immutable: true,
    contentType: 'application/json',
  });
  if (!created1) {
    const existing = parseBuildManifest((await store.get(buildKey))!, buildKey);
    assertSameArchive(existing, manifest.archive.sha256);
    await completeBuild(store, site, existing);
    return { manifest: existing, existed: true };
  }
  await writeBuildIndex(store, site, manifest);
  await recordBuild(store, manifest);
  return { manifest, existed: false };
}

/**
 * Finishes what a pull killed after build.json left undone (invariant 3: re-running repairs):
 * the build's own index and its entry in the machine's state. Both steps are idempotent.
 */
export async function completeBuild(store: Store, site: SiteSettings, build: BuildManifest): Promise<void> {
  const dir = keys.buildBinpkgs(build.machine, build.id);
  if (!(await store.exists(`${dir}Packages.gz`)) || !(await store.exists(`${dir}Packages`))) {
    await writeBuildIndex(store, site, build);
  }
  await recordBuild(store, build);
}

/** The build's own Packages + Packages.gz, TIMESTAMP = the build's creation, file mtime = TIMESTAMP. */
export async function writeBuildIndex(store: Store, site: SiteSettings, build: BuildManifest): Promise<void> {
  const index = renderIndex(build.binpkgs.header, build.binpkgs.packages, site.baseUrl, build.created);
  const dir = keys.buildBinpkgs(build.machine, build.id);
  await publishIndexPair(store, dir, index);
}

/** Adds the build to its machine's state (idempotent: re-running a crashed pull repairs it). */
export async function recordBuild(store: Store, build: BuildManifest): Promise<void> {
  await updateState(store, build.machine, (state) => {
    if (state.builds.some((b) => b.id === build.id)) return false;
    state.builds.push({ id: build.id, added: build.created });
    return true;
  });
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
