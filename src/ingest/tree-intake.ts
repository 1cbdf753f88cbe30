/**
 * Turns the tree members of an archive (repos/, etc-portage/, var-lib-portage/, aux/) into tree
 * manifests over content-addressed bytes. A small file (≤ 1 MiB) is buffered whole, identified,
 * and appended to the current pack only when its content is new; a large one is streamed into the
 * pack while it is hashed and rolled back if it turns out to be known. So memory stays flat and
 * an unchanged file costs a hash and a map lookup, never a write.
 *
 * Every file's identity is its SHA-256, computed here from its bytes (invariant 7). There once was
 * a quick check that took a file as unchanged when the parent tree had the same path, size and
 * xxh64; xxh64 is not collision resistant, and an archive from one machine with a forged file made
 * a later clean build of another machine publish the forged bytes. One-shot SHA-256 (SHA-NI) costs
 * about 0.1 s more per 124k-file tree than xxh64 did (BENCHMARKS.md).
 */
import { createHash, hash } from 'node:crypto';
import type { DamageRepair } from '../records/damage.js';
import type { KnownContent, KnownLocation } from './known-content.js';
import type { PackWriter } from './pack-writer.js';
import type { EntryType, TreeEntry } from '../records/tree-manifest.js';

export const SMALL_FILE_MAX = 1 << 20;
/** A damaged large tree file is restored from the archive up to this size (it is held in memory). */
const REPAIR_MAX = 256 << 20;

export interface FileSink {
  data(chunk: Buffer): void;
  end(): TreeEntry;
}

export interface TreeStats {
  files: number;
  bytes: number;
  newFiles: number;
  newBytes: number;
}

export class TreeIntake {
  private readonly trees = new Map<string, TreeEntry[]>();
  /**
   * New contents written by this pull, so a duplicate inside the archive is stored once: the
   * first entry that holds each (its pack, offset and size), not another object per file.
   */
  private readonly added = new Map<string, TreeEntry>();
  /** Trees whose top-level Manifest is OpenPGP-signed (what a client's repos.conf must know). */
  readonly signedManifests = new Set<string>();
  readonly stats: TreeStats = { files: 0, bytes: 0, newFiles: 0, newBytes: 0 };

  constructor(
    private readonly packs: PackWriter,
    private readonly known: KnownContent,
    /** Damage fsck recorded: the good bytes of a damaged tree file are handed to it. */
    private readonly repair: DamageRepair | null = null,
  ) {}

  addDirectory(tree: string, path: string, mode: number, mtime: number): void {
    this.push(tree, entry(path, 'd', mode, mtime));
  }

  addSymlink(tree: string, path: string, mode: number, mtime: number, target: string): void {
    this.push(tree, { ...entry(path, 'l', mode, mtime), target });
  }

  /** A hard link is recorded as a file with its target's content. */
  addHardlink(tree: string, path: string, mode: number, mtime: number, target: TreeEntry): TreeEntry {
    const e: TreeEntry = { ...target, path, mode, mtime };
    this.push(tree, e);
    this.stats.files++;
    this.stats.bytes += e.size;
    return e;
  }

  beginFile(tree: string, path: string, mode: number, mtime: number, size: number): FileSink {
    return size <= SMALL_FILE_MAX
      ? this.smallFile(tree, path, mode, mtime, size)
      : this.largeFile(tree, path, mode, mtime, size);
  }

  /** The collected trees, each with its entries (unsorted). */
  result(): Map<string, TreeEntry[]> {
    return this.trees;
  }

  private smallFile(tree: string, path: string, mode: number, mtime: number, size: number): FileSink {
    const chunks: Buffer[] = [];
    return {
      data: (chunk) => void chunks.push(chunk),
      end: () => {
        const data = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
        const sha256 = hash('sha256', data); // one-shot: a third cheaper than createHash on small files
        if (this.repair?.wantsFile(sha256)) this.repair.offerFile(sha256, data);
        if (path === 'Manifest' && data.subarray(0, 34).toString('latin1') === '-----BEGIN PGP SIGNED MESSAGE-----') this.signedManifests.add(tree);
        const known = this.locate(sha256);
        if (known) return this.file(tree, path, mode, mtime, size, sha256, known);
        return this.fresh(tree, path, mode, mtime, sha256, { ...this.packs.append(data, sha256), size: data.length });
      },
    };
  }

  private largeFile(tree: string, path: string, mode: number, mtime: number, size: number): FileSink {
    const digest = createHash('sha256');
    const start = this.packs.beginStream();
    return {
      data: (chunk) => {
        digest.update(chunk);
        this.packs.streamChunk(chunk);
      },
      end: () => {
        const sha256 = digest.digest('hex');
        if (this.repair?.wantsFile(sha256) && size <= REPAIR_MAX) this.repair.offerFile(sha256, this.packs.readStreamed());
        const known = this.locate(sha256);
        if (known) {
          this.packs.rollback();
          return this.file(tree, path, mode, mtime, size, sha256, known);
        }
        this.packs.endStream(sha256);
        return this.fresh(tree, path, mode, mtime, sha256, { pack: start.pack, offset: start.offset, size });
      },
    };
  }

  private locate(sha256: string): KnownLocation | undefined {
    return this.known.byHash.get(sha256) ?? this.added.get(sha256);
  }

  /** A file whose content this pull just wrote, at `loc`. */
  private fresh(tree: string, path: string, mode: number, mtime: number, sha256: string, loc: KnownLocation): TreeEntry {
    const e = this.file(tree, path, mode, mtime, loc.size, sha256, loc);
    this.added.set(sha256, e);
    this.stats.newFiles++;
    this.stats.newBytes += loc.size;
    return e;
  }

  private file(
    tree: string,
    path: string,
    mode: number,
    mtime: number,
    size: number,
    sha256: string,
    loc: KnownLocation,
  ): TreeEntry {
    const e: TreeEntry = { path, type: 'f', mode, mtime, size, sha256: loc.sha256 ?? sha256, xxh64: null, pack: loc.pack, offset: loc.offset, target: null };
    this.push(tree, e);
    this.stats.files++;
    this.stats.bytes += size;
    return e;
  }

  private push(tree: string, e: TreeEntry): void {
    let list = this.trees.get(tree);
    if (!list) this.trees.set(tree, (list = []));
    list.push(e);
  }
}

function entry(path: string, type: EntryType, mode: number, mtime: number): TreeEntry {
  return { path, type, mode, mtime, size: 0, sha256: null, xxh64: null, pack: null, offset: 0, target: null };
}
