/**
 * Makes an ingested build visible: what a pull writes in each phase of the write order, which
 * write-order.ts enforces (invariant 1). Content first: new blobs and packs, skipping what a pull
 * that died had already uploaded. Then the markers: each new blob's meta.json (what tells later
 * pulls the blob is there, so written only once it is durable) and the tree manifests, which also
 * give the build record its trees and the lease what the build reuses.
 */
import { keys } from '../store/keys.js';
import type { SiteSettings } from '../store/site.js';
import type { Store } from '../store/store.js';
import { forEachLimit } from '../util/pool.js';
import { BUILD_FORMAT, loadBuild, readBlobMeta, type BuildManifest, type PackageRecord, type TreeRef } from '../records/build-manifest.js';
import { encodeTree, type TreeEntry } from '../records/tree-manifest.js';
import type { IngestResult } from './ingest.js';
import { writeDigests } from '../records/artifacts.js';
import { contentTypeOf } from '../store/http-headers.js';
import { writeInOrder, type CommitResult } from './write-order.js';
import type { MachineState } from '../records/machine-state.js';
import type { SiteSecretKey } from '../trust/site-key.js';
import type { LogRecord } from '../records/build-log.js';

/** A console log ready to store: gzipped, with its record. */
export interface StagedLog {
  gz: Buffer;
  record: LogRecord;
}

/** As many uploads in flight as sync keeps (maintenance/sync.ts): a bucket's throughput comes from concurrency. */
const PARALLEL_PUTS = 16;

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
  /** `alsoRecord`: what else changes in the machine's state, in the write that records the build (--publish, --tag, --note). */
  extra: { siteKey?: SiteSecretKey; log?: StagedLog; alsoRecord?: (state: MachineState) => boolean } = {},
): Promise<CommitResult> {
  const { siteKey, log, alsoRecord } = extra;
  const deferred = { immutable: true, deferSync: true };
  // What a pull that died uploaded is not sent again: blobs the intake found in their directory,
  // and packs (named by their content) found here, one existence check per new pack.
  const alreadyStored: string[] = [];
  // the tree manifests (a third of a second of encoding for a full ::gentoo) are made while the
  // content is written and flushed, not after: deflate runs in the threadpool beside the I/O. What
  // the record needs of each tree is taken now, and the decoded trees are let go of (ingest.trees
  // is emptied): into a bucket the upload is most of a pull, and they were a tenth of its memory
  const trees = [...ingest.trees].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, entries]) => treeSummary(name, entries));
  ingest.trees.clear();
  return writeInOrder(store, site, {
    label: `${machine}-${id}`,
    started,
    siteKey,
    alsoRecord,
    content: async () => {
      // the largest first: the uploads end with small ones in flight, not one large one alone
      const largestFirst = [...ingest.newBlobs].sort((a, b) => b.record.size - a.record.size);
      await forEachLimit(largestFirst, PARALLEL_PUTS, async ({ file, record, storedNames }) => {
        const name = record.stanza.PATH.split('/').pop()!;
        const key = keys.blob(record.sha256, name);
        if (storedNames.has(name) && (await store.stat(key))?.size === record.size) return void alreadyStored.push(key);
        // a bucket uploads the staged file in place and it stays, for the file lists the pull makes
        // after the publish (else each package was downloaded back); a directory takes it by rename
        // and the lists read the store's own file
        const options = { ...deferred, contentType: 'application/x-tar', sha256: record.sha256 };
        await (store.kind === 'bucket' ? store.putCopy(key, file, options) : store.putFile(key, file, options));
      });
      await writeArtifacts(store, machine, id, parent, ingest);
      if (log) await store.put(keys.buildLog(machine, id), log.gz, { immutable: true, deferSync: true, sha256: log.record.sha256, contentType: 'application/gzip' });
      await forEachLimit(ingest.packs, PARALLEL_PUTS, async (pack) => {
        const stored = await store.stat(keys.pack(pack.id));
        if (stored?.size === pack.size) return void alreadyStored.push(keys.pack(pack.id));
        await store.putFile(keys.pack(pack.id), pack.path, { ...deferred, contentType: 'application/octet-stream' });
      });
    },
    markers: async () => {
      // A pull of another machine may have stored the same new package meanwhile: its record (PATH,
      // MTIME) is the one the package keeps for life (invariant 4), and this build takes it.
      const adopted = new Map<string, PackageRecord>();
      await forEachLimit(ingest.newBlobs, PARALLEL_PUTS, async ({ record }) => {
        const { origin: _origin, ...meta } = record;
        const key = keys.blobMeta(record.sha256);
        if (await store.putIfAbsent(key, `${JSON.stringify(meta)}\n`, { ...deferred, contentType: 'application/json' })) return;
        const theirs = readBlobMeta(await store.get(key), record.sha256);
        if (theirs) adopted.set(record.sha256, theirs);
      });
      const packages = ingest.packages.map((p) => {
        const theirs = adopted.get(p.sha256);
        return theirs ? { ...theirs, origin: p.origin } : p;
      });
      const refs: Record<string, TreeRef> = {};
      const reused = new Set<string>(alreadyStored);
      const written = new Set(ingest.packs.map((p) => p.id));
      for (const { name, encoded, files, bytes, packs } of trees) {
        const { data, sha256 } = await encoded;
        if (!(await store.putIfAbsent(keys.tree(sha256), data, { ...deferred, contentType: 'application/gzip' }))) reused.add(keys.tree(sha256));
        refs[name] = { manifest: sha256, files, bytes };
        if (name.startsWith('repos/')) refs[name].signedManifest = ingest.signedManifests.has(name);
        for (const pack of packs) if (!written.has(pack)) reused.add(keys.pack(pack));
      }
      // Objects this build shares with older ones: a lease keeps a concurrent gc off them (invariant 6).
      const fresh = new Set(ingest.newBlobs.map((b) => b.record.sha256).filter((sha) => !adopted.has(sha)));
      for (const p of ingest.packages) if (!fresh.has(p.sha256)) reused.add(keys.blobMeta(p.sha256));
      const manifest: BuildManifest = {
        format: BUILD_FORMAT,
        machine,
        id,
        created,
        parent,
        archive: ingest.archive,
        binpkgs: { header: ingest.header, packages, ...(ingest.trustedKeys ? { trustedKeys: ingest.trustedKeys } : {}) },
        trees: refs,
        ...(ingest.artifactRecords.length ? { artifacts: ingest.artifactRecords } : {}),
        ...(log ? { log: log.record } : {}),
        warnings: ingest.warnings,
      };
      const own: string[] = [];
      for (const { record } of ingest.newBlobs) if (fresh.has(record.sha256)) own.push(keys.blob(record.sha256, record.stanza.PATH.split('/').pop()!), keys.blobMeta(record.sha256));
      for (const pack of ingest.packs) own.push(keys.pack(pack.id));
      for (const ref of Object.values(refs)) own.push(keys.tree(ref.manifest));
      return { manifest, reused: [...reused], written: own.filter((k) => !reused.has(k)) };
    },
  });
}

/** A tree's manifest, being encoded, and what the build record and the lease need of its entries. */
function treeSummary(name: string, entries: TreeEntry[]) {
  const encoded = encodeTree(entries);
  encoded.catch(() => undefined); // its error is thrown where it is awaited
  let files = 0;
  let bytes = 0;
  const packs = new Set<string>();
  for (const e of entries) {
    if (e.type !== 'f') continue;
    files++;
    bytes += e.size;
    if (e.pack) packs.add(e.pack);
  }
  return { name, encoded, files, bytes, packs };
}

/**
 * The build's artifacts at their own URLs (builds/<m>/<id>/artifacts/<name>) with catalyst-style
 * .DIGESTS beside each. One the previous build carried with the same SHA-256 gets another name
 * for its bytes (a hard link, a server-side copy) instead of an upload.
 */
async function writeArtifacts(store: Store, machine: string, id: string, parent: string | null, ingest: IngestResult): Promise<void> {
  if (!ingest.artifacts.length) return;
  const before = new Map(((parent && (await loadBuild(store, machine, parent))?.artifacts) || []).map((a) => [a.sha256, a.name]));
  const deferred = { immutable: true, deferSync: true };
  await forEachLimit(ingest.artifacts, PARALLEL_PUTS, async ({ file, record }) => {
    const key = keys.buildArtifact(machine, id, record.name);
    const options = { ...deferred, sha256: record.sha256, contentType: contentTypeOf(record.name) };
    const had = before.get(record.sha256);
    if (!(had && (await store.copyWithin(keys.buildArtifact(machine, parent!, had), key, options)))) await store.putFile(key, file, options);
    await writeDigests(store, key, record, deferred);
  });
}
