/**
 * `gbp sync <from> <to>`: replicates one store into another (a local store to a bucket, or a
 * bucket back to a directory for disaster recovery) with the rules of a pull:
 * - a pull's write order per build, through the same function (ingest/write-order.ts), then the
 *   machine's published views;
 * - what the destination has is known without a request per object and without listing it:
 *   objects of the destination's newest build of each machine, and of every tree already there
 *   (a tree manifest is only written after its packs). Other objects cost one existence check
 *   each, and none at all when the destination holds no blobs yet (a first upload);
 * - indexes and client configuration are regenerated for the destination's base URL, so
 *   TIMESTAMP is set just before each index's upload; pages are rendered from the facts each build
 *   page keeps (copied along), for the destination's state.
 * Killed at any moment, a re-run completes it and sends only what is missing.
 */
import { createHash } from 'node:crypto';
import { copyFile, open, readFile } from 'node:fs/promises';
import { constants as fsConstants, createReadStream, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { GbpError } from '../errors.js';
import { writeInOrder, type OrderedWrites } from '../ingest/write-order.js';
import { loadBuild, readBlobMeta, type ArtifactRecord, type BuildManifest, type PackageRecord } from '../records/build-manifest.js';
import { RecordReader } from '../records/record-signatures.js';
import { readAttachments, writeDigests } from '../records/artifacts.js';
import { forEachTreeEntry, treePacks } from '../records/tree-manifest.js';
import { listMachines, parseState, requireState, updateState, type MachineState } from '../records/machine-state.js';
import { refreshMachineViews } from '../views/machine-views.js';
import { contentTypeOf } from '../store/http-headers.js';
import { blobDirNames } from '../store/blob-dir.js';
import { keys } from '../store/keys.js';
import { saveSite, type SiteSettings } from '../store/site.js';
import type { Store, StoreTraffic, Versioned } from '../store/store.js';
import { forEachLimit, mapLimit } from '../util/pool.js';
import { sha256Hex } from '../util/sha256.js';

const PARALLEL_COPIES = 32;

export interface SyncOptions {
  machines?: string[];
  /** Reads the source's build records: verified against the site keys when it verifies. */
  reader?: RecordReader;
  dryRun?: boolean;
  onPhase?: (text: string) => void;
  /** The destination's site.json as read before (null: it has none), so it is not read again. */
  storedSite?: Buffer | null;
}

export interface SyncResult {
  from: string;
  to: string;
  dryRun: boolean;
  /** Each build the destination lacks, with what copying it takes. */
  builds: { machine: string; id: string; objects: number; bytes: number; present: number }[];
  /** Each machine whose published build, tags, kept builds or notes change, and how. */
  states: { machine: string; changes: string[] }[];
  /** The trusted keys and trust policy, which follow the source: one line per change. */
  trust: string[];
  objects: number;
  bytes: number;
  /** Objects the destination already had. */
  present: number;
  /** Whether each build's record was verified against trusted site keys before anything of it was copied. */
  verified: boolean;
  seconds: number;
  traffic?: StoreTraffic;
}

export async function syncStores(from: Store, to: Store, toSite: SiteSettings, options: SyncOptions = {}): Promise<SyncResult> {
  const started = performance.now();
  const result: SyncResult = { from: from.location, to: to.location, dryRun: !!options.dryRun, builds: [], states: [], trust: [], objects: 0, bytes: 0, present: 0, verified: false, seconds: 0 };
  const reader = options.reader ?? new RecordReader(null);
  result.verified = reader.verifying;
  const machines = options.machines?.length ? options.machines : await listMachines(from);
  const copier = new ObjectCopier(from, to, reader.verifying);
  // independent of each other, so side by side (each is a round trip or two to a bucket); the keys
  // come before any build: the destination's pages and client configs name them
  const [trust] = await Promise.all([
    syncTrust(from, to, !!options.dryRun),
    options.dryRun ? null : to.recover(),
    options.dryRun ? null : saveSite(to, toSite, options.storedSite),
    copier.init(),
  ]);
  result.trust = trust;
  try {
    await syncMachines(from, to, toSite, machines, copier, reader, result, options);
  } finally {
    await copier.dispose();
  }
  result.seconds = (performance.now() - started) / 1000;
  result.traffic = to.traffic?.();
  return result;
}

async function syncMachines(from: Store, to: Store, toSite: SiteSettings, machines: string[], copier: ObjectCopier, reader: RecordReader, result: SyncResult, options: SyncOptions) {
  for (const machine of machines) {
    // the destination's state as read here is tried first by the write that records the build
    const [source, destRead] = await Promise.all([requireState(from, machine), to.getVersioned(keys.machineState(machine))]);
    let stateRead: Versioned | null | undefined = destRead;
    const dest = destRead ? parseState(destRead.data, keys.machineState(machine), machine) : null;
    const newest = dest?.builds.at(-1);
    if (newest) copier.learn(await loadBuild(to, machine, newest.id));
    const recorded = new Set(dest?.builds.map((b) => b.id) ?? []);
    // attachments made after a build was copied follow it
    for (const id of recorded) {
      if ((source.attached[id] ?? 0) === (dest?.attached[id] ?? 0) || !source.builds.some((b) => b.id === id)) continue;
      const { build } = await reader.requireBuild(from, machine, id);
      if (!options.dryRun) await copier.copyArtifacts(build, await readAttachments(from, machine, id), true);
    }
    // published, tags, kept and notes follow the source; builds only the destination has stay.
    // Changed with the last new build's record, in its write, else on their own after the copies.
    const changes = markChanges(dest, source);
    if (changes.length) result.states.push({ machine, changes });
    let destBuilds: MachineState['builds'] = [];
    const followSource = (s: MachineState) => {
      destBuilds = s.builds;
      if (!markChanges(s, source).length) return false;
      Object.assign(s, { published: source.published, tags: source.tags, kept: source.kept, notes: source.notes, attached: source.attached });
      return true;
    };
    let updated: MachineState | null = null;
    const missing = source.builds.filter((b) => !recorded.has(b.id));
    for (const entry of missing) {
      const { build, raw } = await reader.requireBuild(from, machine, entry.id);
      // the build's plan first, then (unless a dry run) its copy; what it brings counts as there
      // for the builds after it either way, so a dry run counts a shared object once, as a real run does
      // (a real run looks for its new packages in the destination while it copies: counted after)
      const plan = await copier.planBuild(build, !options.dryRun);
      if (!options.dryRun) {
        options.onPhase?.(`${machine} ${entry.id}: copying`);
        const last = entry === missing.at(-1);
        const state = await copyBuild(copier, to, toSite, build, raw, plan, { alsoRecord: last ? followSource : undefined, stateRead });
        stateRead = undefined; // the state changed: the next record reads it
        if (last) updated = state;
      }
      const objects = plan.files.length + plan.late.length;
      result.builds.push({ machine, id: entry.id, objects, bytes: plan.bytes, present: plan.reused.length });
      result.objects += objects;
      result.bytes += plan.bytes;
      result.present += plan.reused.length;
      copier.learn(build);
    }
    if (options.dryRun) continue;
    updated ??= await updateState(to, machine, followSource, stateRead);
    // the same builds on both sides: a changed package's page is read from the source (on its
    // disk), not from the destination (a round trip per package, half of a next sync's page work)
    const same = destBuilds.length === source.builds.length && destBuilds.every((b, i) => b.id === source.builds[i].id);
    await refreshMachineViews(to, toSite, machine, { pagesFrom: same ? from : undefined, state: updated });
  }
}

/**
 * The trust set (keys/, trust.json) as the source has it: a mirror's clients fetch the keys from
 * the mirror, and a pull into the mirror checks against the same keys.
 */
async function syncTrust(from: Store, to: Store, dryRun: boolean): Promise<string[]> {
  const changes: string[] = [];
  // the policy beside the listing, the keys side by side: round trips to a bucket, not one after another
  const listed = async (store: Store) => {
    const policy = store.get(keys.trustPolicy());
    policy.catch(() => undefined); // its error is thrown where it is awaited, not as an unhandled rejection
    const names: string[] = [];
    for await (const key of store.list('keys/')) names.push(key);
    const data = await mapLimit(names, PARALLEL_COPIES, (key) => store.get(key));
    const out = new Map<string, Buffer>();
    names.forEach((key, i) => data[i] && out.set(key, data[i]));
    const p = await policy;
    if (p) out.set(keys.trustPolicy(), p);
    return out;
  };
  const [want, have] = await Promise.all([listed(from), listed(to)]);
  const name = (key: string) => (key === keys.trustPolicy() ? 'trust policy' : key === keys.trustedKeyBundle() ? null : `key ${key.slice('keys/'.length).replace(/\.asc$/, '')}`);
  for (const [key, data] of want) {
    if (have.get(key)?.equals(data)) continue;
    const what = name(key);
    if (what) changes.push(`${have.has(key) ? 'update' : 'trust'} ${what}`);
    if (!dryRun) await to.put(key, data, { contentType: key.endsWith('.json') ? 'application/json' : 'application/pgp-keys' });
  }
  for (const key of have.keys()) {
    if (want.has(key)) continue;
    const what = name(key);
    if (what) changes.push(key === keys.trustPolicy() ? 'drop the trust policy' : `untrust ${what}`);
    if (!dryRun) await to.delete(key);
  }
  return changes;
}

/** How the destination's marks (published, tags, kept, notes) differ from the source's, one line each. */
export function markChanges(dest: MachineState | null, source: MachineState): string[] {
  const changes: string[] = [];
  const was: Pick<MachineState, 'published' | 'tags' | 'kept' | 'notes' | 'attached'> = dest ?? { published: null, tags: {}, kept: [], notes: {}, attached: {} };
  if (was.published !== source.published) changes.push(`published ${was.published ?? 'nothing'} → ${source.published ?? 'nothing'}`);
  for (const tag of new Set([...Object.keys(was.tags), ...Object.keys(source.tags)]).values()) {
    const a = was.tags[tag];
    const b = source.tags[tag];
    if (a !== b) changes.push(b === undefined ? `untag ${tag} (was ${a})` : `tag ${tag} → ${b}${a === undefined ? '' : ` (was ${a})`}`);
  }
  const kept = new Set(source.kept);
  for (const id of source.kept) if (!was.kept.includes(id)) changes.push(`keep ${id}`);
  for (const id of was.kept) if (!kept.has(id)) changes.push(`release ${id}`);
  const notes = new Set([...Object.keys(was.notes), ...Object.keys(source.notes)]);
  for (const id of notes) if (was.notes[id] !== source.notes[id]) changes.push(source.notes[id] === undefined ? `note on ${id} removed` : `note on ${id}`);
  for (const [id, n] of Object.entries(source.attached)) if ((was.attached[id] ?? 0) !== n) changes.push(`${n} attached to ${id}`);
  return changes;
}

/** One build, in the write order every writer of a build follows (ingest/write-order.ts). */
async function copyBuild(
  copier: ObjectCopier,
  to: Store,
  site: SiteSettings,
  build: BuildManifest,
  raw: Buffer,
  plan: BuildPlan,
  record: Pick<OrderedWrites, 'alsoRecord' | 'stateRead'>,
): Promise<MachineState> {
  const started = Math.floor(Date.now() / 1000);
  const { files, late, reused } = plan;
  const { state } = await writeInOrder(to, site, {
    ...record,
    label: `${build.machine}-${build.id}`,
    started,
    // a copy of the list: the probes add their packages to plan.files as they copy them
    content: async () => void (await Promise.all([copier.copy([...files]), copier.probeAndCopy(plan)])),
    markers: async () => {
      await copier.copy(late.filter((key) => !copier.markedEarly.has(key)));
      return { manifest: build, reused, written: [...files, ...late] };
    },
    // the same bytes, so the record's signatures (copied along) hold in the destination too
    recordBytes: raw,
    // small objects that do not depend on each other: side by side, not a round trip each in turn
    beforeRecord: async () => {
      const facts = async () => {
        // the page's facts (a diff of two trees) travel with the build instead of being worked out
        // again; unless verifying: nothing signs them, so the destination works them out from what it verified
        if (copier.verifying) return;
        const data = await copier.source(keys.buildPageFacts(build.machine, build.id));
        if (data) await to.put(keys.buildPageFacts(build.machine, build.id), data, { immutable: true, contentType: 'application/json' });
      };
      const artifacts = async () => copier.copyArtifacts(build, await readAttachments(copier.sourceStore, build.machine, build.id), false);
      await Promise.all([copier.copySignatures(build), artifacts(), facts()]);
    },
  });
  return state;
}

/**
 * What copying a build takes: `files` (blobs, packs) to write first, `late` (blob meta.json,
 * tree manifests) to write after them, `reused`, what the destination already has, and the bytes
 * of `files`.
 */
interface BuildPlan {
  files: string[];
  late: string[];
  reused: string[];
  bytes: number;
  /** New packages to look for in the destination (one listing each) as the copy runs, not before it. */
  probe: PackageRecord[];
  /** Keys already planned. */
  seen: Set<string>;
  /** The size of each of `files`, to start the largest first. */
  sizes: Map<string, number>;
}

/**
 * A package into the plan by what the destination's listing of its directory shows: nothing to do
 * (its meta.json is there), only its meta.json (the blob is there), or both. Returns the blob's key
 * when it has to be copied.
 */
function addPackage(plan: BuildPlan, p: PackageRecord, there: Set<string>): string | null {
  const meta = keys.blobMeta(p.sha256);
  if (there.has('meta.json')) {
    plan.reused.push(meta);
    return null;
  }
  const name = p.stanza.PATH.split('/').pop()!;
  const blob = keys.blob(p.sha256, name);
  plan.late.push(meta);
  if (there.has(name)) {
    plan.reused.push(blob);
    return null;
  }
  planFile(plan, blob, p.size);
  return blob;
}

/** An object to copy into the plan, with its size (counted, and the order of the copy). */
function planFile(plan: BuildPlan, key: string, size: number): void {
  plan.files.push(key);
  plan.sizes.set(key, size);
  plan.bytes += size;
}

/** Knows what the destination holds and copies the rest, content-addressed objects only. */
class ObjectCopier {
  /** Keys known to be in the destination (blob groups by their meta.json key). */
  private readonly known = new Set<string>();
  private destHasBlobs = true;
  private staging: Promise<string> | null = null;
  private staged = 0;
  /** Verifying: what each object to copy must hash to, by key, from the verified record. */
  private readonly expected = new Map<string, Expected>();
  /**
   * Into a bucket, a package's meta.json goes up as soon as its blob's PUT has returned (stored,
   * as the invariant asks), not after a barrier over the whole content: these are done.
   */
  readonly markedEarly = new Set<string>();

  constructor(
    private readonly from: Store,
    private readonly to: Store,
    readonly verifying: boolean,
  ) {}

  async init(): Promise<void> {
    this.destHasBlobs = false;
    for await (const _ of this.to.list('blobs/')) {
      this.destHasBlobs = true;
      break;
    }
  }

  get sourceStore(): Store {
    return this.from;
  }

  /**
   * A build's artifacts the destination lacks: the archive's (with `all`: those were planned with
   * the build, so only the attached ones are copied here unless asked) and the attached ones, then
   * their .DIGESTS (derived, written again) and attached.json last, so what it lists is there.
   * Verifying, each is checked against its record's SHA-256.
   */
  async copyArtifacts(build: BuildManifest, attached: ArtifactRecord[], all: boolean): Promise<void> {
    const records = [...(all ? (build.artifacts ?? []) : []), ...attached];
    const missing: string[] = [];
    await forEachLimit(records, PARALLEL_COPIES, async (a) => {
      const key = keys.buildArtifact(build.machine, build.id, a.name);
      if ((await this.to.stat(key))?.size === a.size) return;
      missing.push(key);
      if (this.verifying) this.expected.set(key, { sha256: a.sha256, size: a.size });
    });
    await this.copy(missing);
    await forEachLimit([...(build.artifacts ?? []), ...attached], PARALLEL_COPIES, async (a) => void (await writeDigests(this.to, keys.buildArtifact(build.machine, build.id, a.name), a, { immutable: true })));
    const list = await this.from.get(keys.buildAttachments(build.machine, build.id));
    if (list) await this.to.put(keys.buildAttachments(build.machine, build.id), list, { contentType: 'application/json' });
  }

  /** A small object of the source, read whole. */
  source(key: string): Promise<Buffer | null> {
    return this.from.get(key);
  }

  /** Everything a recorded build of the destination references is there (invariant 1). */
  learn(build: BuildManifest | null): void {
    if (!build) return;
    for (const p of build.binpkgs.packages) this.known.add(keys.blobMeta(p.sha256));
    for (const ref of Object.values(build.trees)) this.known.add(keys.tree(ref.manifest));
  }

  /** The build's plan (BuildPlan): what the destination lacks, found without a request per known object. */
  async planBuild(build: BuildManifest, probeLater = false): Promise<BuildPlan> {
    const plan: BuildPlan = { files: [], late: [], reused: [], bytes: 0, probe: [], seen: new Set(), sizes: new Map() };
    const { files, late, reused, probe, seen } = plan;
    this.expected.clear();
    await forEachLimit(build.binpkgs.packages, PARALLEL_COPIES, async (p) => {
      const meta = keys.blobMeta(p.sha256);
      if (seen.has(meta)) return;
      seen.add(meta);
      if (this.known.has(meta)) return void reused.push(meta);
      if (this.verifying) {
        this.expected.set(keys.blob(p.sha256, p.stanza.PATH.split('/').pop()!), { sha256: p.sha256, size: p.size });
        this.expected.set(meta, { record: p });
      }
      if (probeLater && this.destHasBlobs) return void probe.push(p);
      const there = this.destHasBlobs ? await this.storedNames(p.sha256) : new Set<string>();
      addPackage(plan, p, there);
    });
    // the build's own files: its archive's artifacts and its log
    const own = (build.artifacts ?? []).map((a) => ({ key: keys.buildArtifact(build.machine, build.id, a.name), size: a.size, sha256: a.sha256 }));
    if (build.log) own.push({ key: keys.buildLog(build.machine, build.id), size: build.log.storedBytes, sha256: build.log.sha256 });
    const ownFiles = forEachLimit(own, PARALLEL_COPIES, async ({ key, ...a }) => {
      if (this.destHasBlobs && (await this.to.stat(key))?.size === a.size) return;
      planFile(plan, key, a.size);
      if (this.verifying) this.expected.set(key, { sha256: a.sha256, size: a.size });
    });
    await Promise.all([ownFiles, this.planTrees(build, plan)]);
    const copied = new Set([...files, ...late, ...probe.flatMap((p) => [keys.blob(p.sha256, p.stanza.PATH.split('/').pop()!), keys.blobMeta(p.sha256)])]);
    for (const key of this.expected.keys()) if (!copied.has(key)) this.expected.delete(key);
    // the largest first: the copy ends with small objects in flight, not one large one alone
    const size = (key: string) => plan.sizes.get(key) ?? 0;
    files.sort((a, b) => size(b) - size(a));
    probe.sort((a, b) => b.size - a.size);
    return plan;
  }

  /** The trees the destination lacks, and the packs they point into, into the plan. */
  private async planTrees(build: BuildManifest, plan: BuildPlan): Promise<void> {
    const { seen, reused, late } = plan;
    // the trees side by side: each is a round trip or two to a bucket and a manifest to read
    await forEachLimit(Object.values(build.trees), PARALLEL_COPIES, async (ref) => {
      const tree = keys.tree(ref.manifest);
      if (seen.has(tree)) return;
      seen.add(tree);
      if (this.known.has(tree) || (this.destHasBlobs && (await this.to.exists(tree)))) return void reused.push(tree);
      const data = await this.from.get(tree);
      if (!data) throw new GbpError('store', tree, `missing in ${this.from.location}, but build ${build.machine} ${build.id} uses it; run gbp fsck there`);
      if (sha256Hex(data) !== ref.manifest) throw new GbpError(this.verifying ? 'untrusted' : 'store', tree, `does not match its SHA-256 in ${this.from.location} (changed or damaged); nothing of ${build.machine} ${build.id} is copied`);
      // verifying, every file's range in its pack is what the signed record's tree says; else the
      // manifest's first line names the packs, and its 124,000 entries need not be read
      const packs = new Set<string>();
      if (!this.verifying) for (const pack of await treePacks(data)) packs.add(keys.pack(pack));
      else {
        forEachTreeEntry(data, (e) => {
          if (!e.pack) return;
          const pack = keys.pack(e.pack);
          packs.add(pack);
          const want = this.expected.get(pack) ?? { ranges: new Map() };
          if ('ranges' in want) want.ranges.set(e.offset, { size: e.size, sha256: e.sha256! });
          this.expected.set(pack, want);
        });
        this.expected.set(tree, { sha256: ref.manifest, size: data.length });
      }
      await forEachLimit([...packs], PARALLEL_COPIES, async (pack) => {
        if (seen.has(pack)) return;
        seen.add(pack);
        const size = (await this.from.stat(pack))?.size;
        if (size === undefined) throw new GbpError('store', pack, `missing in ${this.from.location}; run gbp fsck there`);
        if (this.destHasBlobs && (await this.to.stat(pack))?.size === size) return void reused.push(pack);
        planFile(plan, pack, size);
      });
      late.push(tree);
    });
  }

  /**
   * The plan's new packages, each looked for in the destination (a killed sync, or another
   * machine's build, may have brought it) and copied when missing, while the rest of the content
   * goes up: the listings no longer hold the uploads back.
   */
  async probeAndCopy(plan: BuildPlan): Promise<void> {
    await forEachLimit(plan.probe, PARALLEL_COPIES, async (p) => {
      const there = await this.storedNames(p.sha256);
      const blob = addPackage(plan, p, there);
      if (blob) await this.copy([blob]);
    });
  }

  /**
   * What the destination holds of a blob's directory. A bucket gets each blob's meta.json as soon as
   * its PUT returns, so asking for meta.json alone (a HEAD, a third of a listing's time on the
   * server) misses only the blobs in flight when a sync was killed, which go up again. A disk
   * writes its markers at the barrier, and lists a directory for the price of a stat.
   */
  private async storedNames(sha256: string): Promise<Set<string>> {
    if (this.to.kind !== 'bucket') return blobDirNames(this.to, sha256);
    return new Set((await this.to.exists(keys.blobMeta(sha256))) ? ['meta.json'] : []);
  }

  async copy(objects: string[]): Promise<void> {
    if (!objects.length) return;
    this.staging ||= this.to.createStaging();
    const staging = await this.staging;
    await forEachLimit(objects, PARALLEL_COPIES, async (key) => {
      // a blob's name carries its SHA-256: the destination need not hash it, and a bucket verifies it
      const blobSha = /^blobs\/[0-9a-f]{2}\/([0-9a-f]{64})\/(?!meta\.json$)/.exec(key)?.[1];
      // a disk batches its flushes at the barrier; a bucket's PUT is stored when it returns
      const markEarly = blobSha !== undefined && this.to.kind === 'bucket';
      const options = { immutable: true, deferSync: !markEarly, contentType: contentTypeOf(key), sha256: blobSha };
      const want = this.expected.get(key);
      // a local source's file is read where it is, as rclone would; what is checked (a source being
      // verified) is first copied aside, so the bytes checked are the bytes stored
      const local = want ? undefined : this.from.localFile?.(key);
      if (local) {
        await this.to.putCopy(key, local, options).catch((err: NodeJS.ErrnoException) => {
          throw err.code === 'ENOENT' ? new GbpError('store', key, `missing in ${this.from.location}; run gbp fsck there`) : err;
        });
      } else {
        // one counter for the copier: copies run side by side (probeAndCopy beside the plan's own)
        const file = join(staging, `copy-${this.staged++}`);
        await this.fetch(key, file);
        if (want) {
          await checkCopied(key, file, want, this.from.location);
          this.expected.delete(key);
        }
        await this.to.putFile(key, file, options);
      }
      if (!blobSha) return;
      const marker = markEarly ? this.copy([keys.blobMeta(blobSha)]).then(() => void this.markedEarly.add(keys.blobMeta(blobSha))) : null;
      await Promise.all([this.copyFileList(blobSha), marker]);
    });
  }

  /**
   * A new package's file list goes with it, when the source has one. Not from a source being
   * verified: nothing signs a list, so the destination lists the verified package itself when asked.
   */
  private async copyFileList(sha256: string): Promise<void> {
    if (this.verifying) return;
    const list = await this.from.get(keys.blobFiles(sha256));
    if (list) await this.to.put(keys.blobFiles(sha256), list, { immutable: true, contentType: 'application/gzip' });
  }

  /**
   * The object into a staging file. A local source is copied (a reflink where the filesystem can),
   * never hard-linked: two stores sharing an inode are one store, and a write or a repair in
   * either would land in both.
   */
  private async fetch(key: string, file: string): Promise<void> {
    const local = this.from.localFile?.(key);
    if (local) {
      await copyFile(local, file, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE);
      return;
    }
    const stream = await this.from.getStream(key);
    if (!stream) throw new GbpError('store', key, `missing in ${this.from.location}; run gbp fsck there`);
    await pipeline(stream, createWriteStream(file, { flags: 'wx' }));
  }

  /** The site-key signatures beside the build's record (build.json.<key id>.sig), as the source has them. */
  async copySignatures(build: BuildManifest): Promise<void> {
    const signatures: string[] = [];
    for await (const key of this.from.list(keys.buildDir(build.machine, build.id))) if (/\/build\.json\.[0-9a-f]{16}\.sig$/.test(key)) signatures.push(key);
    await forEachLimit(signatures, PARALLEL_COPIES, async (key) => {
      const data = await this.from.get(key);
      if (data) await this.to.put(key, data, { contentType: 'application/json' });
    });
  }

  async dispose(): Promise<void> {
    if (this.staging) await this.to.disposeStaging(await this.staging);
  }
}

/** What a copied object must be, by the verified record: its hash, the files a pack holds, or a blob's record. */
type Expected = { sha256: string; size: number } | { ranges: Map<number, { size: number; sha256: string }> } | { record: PackageRecord };

/** A copied object against what the verified record says it is; refused (exit 9) otherwise. */
async function checkCopied(key: string, file: string, want: Expected, from: string): Promise<void> {
  const refuse = (what: string) => new GbpError('untrusted', key, `${what} in ${from}: not what the signed record says; refused`);
  if ('record' in want) {
    const meta = readBlobMeta(await readFile(file), want.record.sha256);
    const r = want.record;
    if (!meta || meta.size !== r.size || meta.md5 !== r.md5 || meta.sha1 !== r.sha1 || meta.stanza.PATH !== r.stanza.PATH) throw refuse('the package record differs');
    return;
  }
  if ('sha256' in want) {
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of createReadStream(file)) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    if (size !== want.size || hash.digest('hex') !== want.sha256) throw refuse('the content differs');
    return;
  }
  const fh = await open(file, 'r');
  try {
    for (const [offset, { size, sha256 }] of want.ranges) {
      const buf = Buffer.alloc(size);
      const { bytesRead } = await fh.read(buf, 0, size, offset);
      if (bytesRead !== size || sha256Hex(buf) !== sha256) throw refuse(`the file at offset ${offset} differs`);
    }
  } finally {
    await fh.close();
  }
}
