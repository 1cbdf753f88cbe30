/**
 * Reads a build archive in one streaming pass and turns it into a build candidate: package records,
 * tree manifests, and the new blobs and packs staged for the commit. Nothing here touches what
 * readers of the store see; a refused archive leaves only its staging directory, which the caller
 * removes (invariant 7).
 *
 * Each member is checked once, here, before any consumer sees it: canonical name (no absolute path,
 * no `..`, no NUL or control character, bounded lengths), a known section, no device or FIFO, no
 * name that collides with another after Unicode normalisation, nothing below a symlink or a file
 * whichever comes first in the archive, hard links to earlier members of the same tree. Symlinks
 * are resolved against the whole archive once it has been read (archive/link-resolution.ts), and
 * modes lose setuid, setgid, sticky and world-write bits (a build container is not trusted with
 * them; an exported tree is read by the rsync daemon and copied onto clients).
 */
import { HashWorker } from './hash-worker.js';
import { archiveError, GbpError } from '../errors.js';
import { decompress } from '../archive/decompress.js';
import {
  canonicalMemberName,
  normalisedKey,
  REQUIRED_SECTIONS,
  resolveLinkTarget,
  sectionOf,
  treeOf,
  type Section,
} from '../archive/member-path.js';
import { LinkResolver } from '../archive/link-resolution.js';
import type { ArchiveSource } from '../archive/source.js';
import { TarReader, type TarEntry, type TarSink } from '../archive/tar-reader.js';
import { CLIENT_ONLY_HEADER_KEYS, type Stanza } from '../binpkg/packages-index.js';
import type { Store } from '../store/store.js';
import type { DamageRepair } from '../records/damage.js';
import { BinpkgIntake, type MemberSink, type PullTrust, type StagedBlob } from './binpkg-intake.js';
import type { ArtifactRecord, PackageRecord } from '../records/build-manifest.js';
import type { KnownContent } from './known-content.js';
import { PackWriter, type SealedPack } from './pack-writer.js';
import { ArtifactIntake, type StagedArtifact } from './artifact-intake.js';
import { TreeIntake, type TreeStats } from './tree-intake.js';
import type { TreeEntry } from '../records/tree-manifest.js';

export interface IngestOptions {
  /** Refuse archives whose tar stream (uncompressed) exceeds this many bytes. */
  maxTarBytes: number;
  /** Damage fsck recorded, which this archive's bytes may restore (records/damage.ts). */
  repair?: DamageRepair | null;
  /** Signature checks against the site's trusted keys (none configured: null). */
  trust?: PullTrust | null;
  /** The machine, for the policy command a refusal suggests. */
  machine?: string;
  onProgress?: (p: { rawBytes: number; tarBytes: number; members: number }) => void;
}

export interface IngestResult {
  archive: { source: string; sha256: string; bytes: number; tarBytes: number; compression: string };
  header: Stanza;
  packages: PackageRecord[];
  trees: Map<string, TreeEntry[]>;
  /** Repository trees whose top-level Manifest is signed. */
  signedManifests: Set<string>;
  /** The trusted keys the packages were checked against (null: no key, nothing checked). */
  trustedKeys: string[] | null;
  newBlobs: StagedBlob[];
  packs: SealedPack[];
  /** The aux/ files, staged, and their records in name order. */
  artifacts: StagedArtifact[];
  artifactRecords: ArtifactRecord[];
  warnings: string[];
  stats: { members: number; trees: TreeStats; binpkgs: BinpkgIntake['stats'] };
}

/**
 * What the archive held under a (normalised) name. Directories and symlinks share constant
 * records; a file's record is its tree entry (null until its bytes have passed, and for binpkgs).
 * `raw` is kept only for the rare name that Unicode normalisation changes.
 */
type Seen =
  | { kind: 'dir'; raw?: string }
  | { kind: 'other'; raw?: string }
  | { kind: 'link'; target: string; raw?: string }
  | FileSeen;
/** A file's record is filled in when its bytes have passed (entryEnd). */
type FileSeen = { kind: 'file'; tree: string | null; entry: TreeEntry | null; raw?: string };
const DIR: Seen = { kind: 'dir' };

/** setuid, setgid, sticky and world-write never reach the store. */
export const sanitiseMode = (mode: number) => mode & 0o775;

class ArchiveIngest implements TarSink {
  private readonly seen = new Map<string, Seen>();
  /** Every name some member lies below: it must be a directory, whenever it appears. */
  private readonly ancestors = new Set<string>();
  private readonly links: string[] = [];
  private readonly sections = new Set<Section>();
  private current: MemberSink | null = null;
  private currentTree: { sink: ReturnType<TreeIntake['beginFile']>; seen: FileSeen } | null = null;
  private lastCheckedParent = '';
  members = 0;

  constructor(
    private readonly trees: TreeIntake,
    private readonly binpkgs: BinpkgIntake,
    private readonly artifacts: ArtifactIntake,
  ) {}

  entry(e: TarEntry): void | Promise<void> {
    this.members++;
    const canon = canonicalMemberName(e.name);
    if ('reason' in canon) throw archiveError(e.name, canon.reason);
    const name = canon.name;
    if (name === '') {
      if (e.type !== 'directory') throw archiveError(e.name, 'the archive root must be a directory');
      return;
    }
    const section = sectionOf(name);
    if (!section) {
      throw archiveError(name, 'unexpected top-level entry (a build archive has binpkgs/, repos/, etc-portage/, var-lib-portage/ and optionally aux/)');
    }
    if (e.type === 'char-device' || e.type === 'block-device' || e.type === 'fifo') {
      throw archiveError(name, `${e.type} entries are not allowed in a build archive`);
    }
    e.mode = sanitiseMode(e.mode);
    this.sections.add(section);
    const key = normalisedKey(name);
    const previous = this.seen.get(key);
    if (previous) {
      const previousName = previous.raw ?? key;
      if (previousName !== name) throw archiveError(name, `collides with '${previousName}' after Unicode normalisation`);
      if (!(previous.kind === 'dir' && e.type === 'directory')) throw archiveError(name, 'appears twice in the archive');
      return;
    }
    if (e.type !== 'directory' && this.ancestors.has(key)) throw archiveError(name, `is a ${e.type}, but the archive has members below it`);
    this.checkAncestors(name);
    if (key !== name) {
      // Remember the raw spelling: only it tells a collision from a repeated member.
      this.seen.set(key, { kind: e.type === 'directory' ? 'dir' : 'other', raw: name });
    }

    if (section === 'binpkgs') return this.binpkgEntry(e, name, key);
    if (section === 'aux') {
      if (name === 'aux' && e.type !== 'directory') throw archiveError(name, 'must be a directory');
      return this.artifactEntry(e, name, key);
    }

    // A directory directly under repos/ or aux/ starts a tree; a file there joins the section's own.
    const place = treeOf(name, section) ?? (e.type === 'directory' ? { tree: name, path: '.' } : { tree: section, path: name.split('/')[1] });
    if (place.path === '.' && (place.tree === 'repos' || place.tree === 'aux')) {
      // The section directories themselves hold no tree of their own.
      if (e.type !== 'directory') throw archiveError(name, 'must be a directory');
      this.remember(key, DIR);
      return;
    }
    switch (e.type) {
      case 'directory':
        this.remember(key, DIR);
        this.trees.addDirectory(place.tree, place.path, e.mode, e.mtime);
        return;
      case 'symlink': {
        if (resolveLinkTarget(name, e.linkname) === null) {
          throw archiveError(name, `symbolic link to '${e.linkname}' points outside the archive`);
        }
        this.remember(key, { kind: 'link', target: e.linkname });
        this.links.push(name);
        this.trees.addSymlink(place.tree, place.path, e.mode, e.mtime, e.linkname);
        return;
      }
      case 'hardlink': {
        const targetCanon = canonicalMemberName(e.linkname);
        const target = 'name' in targetCanon ? this.seen.get(normalisedKey(targetCanon.name)) : undefined;
        if (!target || target.kind !== 'file' || !target.entry) {
          throw archiveError(name, `hard link to '${e.linkname}', which is not an earlier file of the archive's trees`);
        }
        if (target.tree !== place.tree) throw archiveError(name, `hard link to '${e.linkname}' crosses from ${place.tree} to ${target.tree}`);
        const entry = this.trees.addHardlink(place.tree, place.path, e.mode, e.mtime, target.entry);
        this.remember(key, { kind: 'file', tree: place.tree, entry });
        return;
      }
      case 'file': {
        const sink = this.trees.beginFile(place.tree, place.path, e.mode, e.mtime, e.size);
        this.currentTree = { sink, seen: this.remember<FileSeen>(key, { kind: 'file', tree: place.tree, entry: null }) };
        return;
      }
    }
  }

  private binpkgEntry(e: TarEntry, name: string, key: string): void {
    if (e.type === 'directory') {
      this.remember(key, DIR);
      return;
    }
    if (e.type !== 'file') throw archiveError(name, `${e.type} in binpkgs/: binary packages must be regular files`);
    this.remember(key, { kind: 'file', tree: null, entry: null });
    const rel = name.slice('binpkgs/'.length);
    if (rel === 'Packages') this.current = this.binpkgs.beginIndex(name, e.size);
    else if (rel === 'Packages.gz') this.current = null; // regenerated from Packages, never trusted
    else this.current = this.binpkgs.beginPackage(name, rel, e.size, e.mtime);
  }

  /** aux/ holds files (artifacts.ts), not a tree: directories only group them. */
  private artifactEntry(e: TarEntry, name: string, key: string): void {
    if (e.type === 'directory') {
      this.remember(key, DIR);
      return;
    }
    if (e.type !== 'file') throw archiveError(name, `${e.type} in aux/: artifacts must be regular files`);
    this.remember(key, { kind: 'file', tree: null, entry: null });
    this.current = this.artifacts.beginFile(name.slice('aux/'.length), e.size);
  }

  /** Records what is at `key` (with the raw spelling noted before, if any); returns the record stored. */
  private remember<T extends Seen>(key: string, seen: T): T {
    const raw = this.seen.get(key)?.raw;
    const stored = raw ? { ...seen, raw } : seen;
    this.seen.set(key, stored);
    return stored;
  }

  /**
   * Nothing may sit below a file or a symlink (an extractor would follow the link): each ancestor
   * is recorded once, so a non-directory that comes later is refused too, and the walk stops at the
   * first ancestor already recorded (linear in the archive's names).
   */
  private checkAncestors(name: string): void {
    const slash = name.lastIndexOf('/');
    if (slash < 0) return;
    const parent = name.slice(0, slash);
    if (parent === this.lastCheckedParent) return;
    for (let p = parent; p; p = p.slice(0, Math.max(0, p.lastIndexOf('/')))) {
      const k = normalisedKey(p);
      if (this.ancestors.has(k)) break;
      const s = this.seen.get(k);
      if (s && s.kind !== 'dir') throw archiveError(name, `is below '${p}', which is not a directory`);
      this.ancestors.add(k);
    }
    this.lastCheckedParent = parent;
  }

  /** Every symlink, resolved against the whole archive (archive/link-resolution.ts). */
  private checkLinks(): void {
    const resolver = new LinkResolver({
      kind: (n) => {
        const k = normalisedKey(n);
        const s = this.seen.get(k);
        if (!s) return this.ancestors.has(k) ? 'dir' : undefined;
        return s.kind === 'dir' ? 'dir' : s.kind === 'link' ? 'link' : 'file';
      },
      target: (n) => (this.seen.get(normalisedKey(n)) as { target: string }).target,
    });
    for (const name of this.links) {
      const reason = resolver.check(name);
      if (reason) throw archiveError(name, reason);
    }
  }

  data(chunk: Buffer): void | Promise<void> {
    if (this.currentTree) this.currentTree.sink.data(chunk);
    else return this.current?.data(chunk);
  }

  entryEnd(): void | Promise<void> {
    if (this.currentTree) {
      const { sink, seen } = this.currentTree;
      this.currentTree = null;
      seen.entry = sink.end();
      return;
    }
    const sink = this.current;
    this.current = null;
    return sink?.end();
  }

  finish(): void {
    this.checkLinks();
    const missing = REQUIRED_SECTIONS.filter((s) => !this.sections.has(s));
    if (missing.length) {
      throw archiveError(`${missing[0]}/`, `missing from the archive (a complete build has ${REQUIRED_SECTIONS.map((s) => `${s}/`).join(', ')}); did the job finish?`);
    }
  }
}

/** From this size on (or when the size is not known), the archive is hashed on a thread of its own. */
const OWN_ARCHIVE_HASH_FROM = 64 << 20;

export async function ingestArchive(
  store: Store,
  source: ArchiveSource,
  staging: string,
  known: KnownContent,
  options: IngestOptions,
): Promise<IngestResult> {
  const packs = new PackWriter(staging);
  const trees = new TreeIntake(packs, known, options.repair);
  const hashing = new HashWorker();
  const binpkgs = new BinpkgIntake(store, known, staging, options.repair ?? null, options.trust ?? null, hashing);
  const artifacts = new ArtifactIntake(staging);
  const sink = new ArchiveIngest(trees, binpkgs, artifacts);
  const reader = new TarReader(sink);

  // a large archive's own SHA-256 on a thread of its own: in the packages' stretch every byte is
  // hashed twice (the archive, and the package it holds), and on one thread that was what the
  // reading waited for. A small one shares the thread: a second one is 10 MB more (BENCHMARKS.md)
  const archiveHashing = source.size !== null && source.size < OWN_ARCHIVE_HASH_FROM ? hashing : new HashWorker();
  const rawHash = archiveHashing.begin(['sha256']);
  let rawBytes = 0;
  async function* counted(): AsyncGenerator<Buffer> {
    for await (const chunk of source.open()) {
      const behind = rawHash.update(chunk);
      if (behind) await behind;
      rawBytes += chunk.length;
      yield chunk;
    }
  }

  try {
    const { compression, stream } = await decompress(counted());
    let lastReport = 0;
    for await (const chunk of stream) {
      await reader.write(chunk);
      if (reader.position > options.maxTarBytes) {
        throw new GbpError('archive-too-large', source.label, `the archive holds more than ${options.maxTarBytes} bytes (the configured limit, --max-size)`);
      }
      if (options.onProgress && rawBytes - lastReport > 8 << 20) {
        lastReport = rawBytes;
        options.onProgress({ rawBytes, tarBytes: reader.position, members: sink.members });
      }
    }
    reader.end();
    await binpkgs.settle(); // a package refused while the rest was read is the archive's first error
    sink.finish();
    const { header, packages, newBlobs } = await binpkgs.finish(options.machine);
    const artifactRecords = await artifacts.finish(options.trust ?? null, options.machine);
    const packList = packs.finish();
    const treeResult = trees.result();
    renamePacks(treeResult, packList);
    for (const k of CLIENT_ONLY_HEADER_KEYS) delete header[k];
    const [sha256] = await rawHash.digest();
    return {
      archive: { source: source.label, sha256, bytes: rawBytes, tarBytes: reader.position, compression },
      header,
      packages,
      trees: treeResult,
      signedManifests: trees.signedManifests,
      trustedKeys: options.trust ? [...options.trust.keyring.fingerprints].sort() : null,
      newBlobs,
      packs: packList,
      artifacts: artifacts.staged,
      artifactRecords,
      warnings: [...binpkgs.warnings, ...artifacts.warnings],
      stats: { members: sink.members, trees: trees.stats, binpkgs: binpkgs.stats },
    };
  } catch (err) {
    await binpkgs.settle().catch(() => {}); // no lookup still reads the staging directory
    await artifacts.settle();
    packs.abort();
    throw err;
  } finally {
    await Promise.all([hashing.close(), archiveHashing === hashing ? null : archiveHashing.close()]);
  }
}

/** Points tree entries at the packs' final, content-derived names (pack-writer.ts). */
function renamePacks(trees: Map<string, TreeEntry[]>, packs: SealedPack[]): void {
  const final = new Map(packs.map((p) => [p.tempId, p.id]));
  for (const entries of trees.values()) {
    for (const e of entries) {
      const id = e.pack && final.get(e.pack);
      if (id) e.pack = id;
    }
  }
}
