/**
 * Takes in the binpkgs/ section of an archive: the build's own `Packages` index and the package
 * files, and produces the build's package records, cross-checked against that index (SIZE, MD5,
 * SHA1, presence, CPV and BUILD_ID).
 *
 * A package's bytes either
 * - match a package the store already has, known from the index's SHA1 before the file arrives
 *   (Portage writes `Packages` first in name order): then they are only hashed, SHA-256 only, to
 *   confirm, and never written; or
 * - are staged to a file while MD5, SHA1 and SHA-256 are computed; then the store is asked whether
 *   that blob exists, and only a new blob has its metadata read (from the staged file, by position)
 *   and is kept for the commit. Those lookups run beside the rest of the reading (a TaskGroup),
 *   and `finish` waits for them.
 * The hashing and the staging writes happen on a worker thread (hash-worker.ts); each package's
 * checks run once its digests are back, beside the reading too.
 */
import { unlinkSync } from 'node:fs';
import type { HashWorker } from './hash-worker.js';
import { join } from 'node:path';
import { archiveError, GbpError } from '../errors.js';
import { formatFromName, readBinpkgMetadata, stanzaFromMetadata, type BinpkgFormat } from '../binpkg/metadata.js';
import { parsePackages, type PackagesIndex, type Stanza } from '../binpkg/packages-index.js';
import { blobDirNames } from '../store/blob-dir.js';
import type { DamageRepair } from '../records/damage.js';
import { blobPath, keys } from '../store/keys.js';
import type { Store } from '../store/store.js';
import { readBlobMeta, type PackageRecord } from '../records/build-manifest.js';
import type { KnownContent } from './known-content.js';
import { TaskGroup } from '../util/task-group.js';
import { checkGpkgSignature, type PackageSignature } from '../trust/gpkg-signature.js';
import type { Rules } from '../trust/policy.js';
import type { Keyring } from '../trust/trusted-keys.js';

const MAX_INDEX_BYTES = 256 << 20;
/** Store lookups (a LIST, and a GET when the blob is stored) in flight beside the reading. */
const LOOKUPS_IN_FLIGHT = 16;

/** A pull's signature checks: the trusted keys and what to do with what they cannot vouch for. */
export interface PullTrust {
  keyring: Keyring;
  rules: Rules;
}

export interface MemberSink {
  /** A promise asks the reader to wait (the hashing thread is behind). */
  data(chunk: Buffer): void | Promise<void>;
  end(): void | Promise<void>;
}

/** A new blob waiting for the commit: the staged file and its record. */
export interface StagedBlob {
  file: string;
  record: PackageRecord;
  /** Files already in the blob's directory: a pull that died before recording it uploaded them. */
  storedNames: Set<string>;
}

interface Received {
  member: string;
  mtime: number;
  /** Set when the bytes were staged (new to this pull). */
  staged?: StagedBlob;
  record: PackageRecord;
  /** Whether MD5/SHA1 were computed from the bytes, or implied by a SHA-256 match. */
  known: boolean;
}

export class BinpkgIntake {
  private index: PackagesIndex | null = null;
  private indexByPath = new Map<string, Stanza>();
  private readonly received = new Map<string, Received>();
  /** Each staged blob's record once its lookup ends, by SHA-256: a second member with the same bytes waits for it. */
  private readonly stagedBySha = new Map<string, Promise<PackageRecord>>();
  private readonly lookups = new TaskGroup(LOOKUPS_IN_FLIGHT);
  /** Key ids of signatures by keys the site does not trust, by SHA-256, for the refusal. */
  private readonly unknownSigners = new Map<string, string>();
  private hasBlobs: Promise<boolean> | null = null;
  /** The last package's checks (inArchiveOrder). */
  private checked: Promise<void> = Promise.resolve();
  private seq = 0;
  readonly warnings: string[] = [];
  readonly stats = { packages: 0, bytes: 0, newPackages: 0, newBytes: 0, verifiedWithoutWrite: 0 };

  constructor(
    private readonly store: Store,
    private readonly known: KnownContent,
    private readonly staging: string,
    /** Damage fsck recorded: a damaged package's bytes are staged, never taken as known. */
    private readonly repair: DamageRepair | null,
    /** Trusted keys: every package's signature is checked against them (null: none configured). */
    private readonly trust: PullTrust | null,
    /** Where the packages' bytes are hashed, and the new ones written to the staging directory (the caller closes it). */
    private readonly hashing: HashWorker,
  ) {}

  beginIndex(member: string, size: number): MemberSink {
    if (size > MAX_INDEX_BYTES) throw archiveError(member, `index of ${size} bytes exceeds the ${MAX_INDEX_BYTES}-byte limit`);
    const chunks: Buffer[] = [];
    return {
      data: (c) => void chunks.push(c),
      end: () => {
        const text = Buffer.concat(chunks).toString('utf8');
        this.index = parsePackages(text);
        if (this.index.header.VERSION !== undefined && this.index.header.VERSION !== '0') {
          throw archiveError(member, `VERSION ${this.index.header.VERSION} is not a Portage binary package index`);
        }
        for (const e of this.index.entries) {
          if (!e.PATH) throw archiveError(member, `entry ${e.CPV ?? '(no CPV)'} has no PATH`);
          if (this.indexByPath.has(e.PATH)) throw archiveError(member, `PATH ${e.PATH} is listed twice`);
          this.indexByPath.set(e.PATH, e);
        }
      },
    };
  }

  /** Returns null for files Portage would not read as packages (they are reported and skipped). */
  beginPackage(member: string, relPath: string, size: number, mtime: number): MemberSink | null {
    this.lookups.throwIfFailed(); // a package already refused ends the reading
    const format = formatFromName(relPath);
    if (!format) {
      this.warnings.push(`${member}: not a binary package name; skipped`);
      return null;
    }
    const listed = this.indexByPath.get(relPath);
    const candidate = listed?.SHA1 ? this.known.binpkgsBySha1.get(listed.SHA1) : undefined;
    // a signed package stored before its signature was checked is read again, to check it now
    const unchecked = this.trust && candidate?.signed && !candidate.signer;
    if (candidate && !unchecked && !this.repair?.blobShas.has(candidate.sha256) && candidate.md5 === listed!.MD5 && String(candidate.size) === listed!.SIZE && candidate.size === size) {
      return this.verifyKnown(member, relPath, mtime, candidate);
    }
    return this.stage(member, relPath, size, mtime, format);
  }

  private verifyKnown(member: string, relPath: string, mtime: number, candidate: PackageRecord): MemberSink {
    const job = this.hashing.begin(['sha256']);
    return {
      data: (c) => job.update(c),
      end: () => {
        // confirmed beside the reading: the archive is refused before anything is committed
        const digests = job.digest();
        this.inArchiveOrder(async () => {
          const [sha256] = await digests;
          if (sha256 !== candidate.sha256) {
            throw archiveError(member, 'does not match binpkgs/Packages: the bytes differ from the package its SIZE/MD5/SHA1 describe');
          }
          this.stats.verifiedWithoutWrite++;
          this.receive(relPath, { member, mtime, record: { ...candidate, origin: relPath }, known: true });
        });
      },
    };
  }

  private stage(member: string, relPath: string, size: number, mtime: number, format: BinpkgFormat): MemberSink {
    const file = join(this.staging, `binpkg-${this.seq++}`);
    // a directory store renames the staged file into place: flushed now, beside the reading, the
    // commit's barrier has nothing left to wait for (a bucket uploads it, and needs no flush)
    const job = this.hashing.begin(['md5', 'sha1', 'sha256'], file, this.store.kind !== 'bucket');
    return {
      data: (c) => job.update(c),
      end: () => {
        const digests = job.digest();
        this.inArchiveOrder(async () => {
          const [md5, sha1, sha256] = await digests;
          const listed = this.indexByPath.get(relPath);
          if (listed) checkAgainstIndex(member, listed, { size, md5, sha1 });
          // Another member with the same bytes: one blob, whenever the first one's lookup ends
          const first = this.stagedBySha.get(sha256);
          if (first) {
            unlinkSync(file);
            void this.lookups.run(async () => {
              const record = await first;
              this.receive(relPath, { member, mtime, record: { ...record, origin: relPath }, known: false });
            });
            return;
          }
          // The store lookup and the metadata read run beside the rest of the archive's reading:
          // against a bucket, one request per new package would otherwise pause the stream each time.
          this.stagedBySha.set(sha256, this.lookups.run(() => this.settleStaged(member, relPath, mtime, file, format, { size, md5, sha1, sha256 })));
        });
      },
    };
  }

  /**
   * Runs each package's checks once its digests are back, one after another in the order the
   * archive holds the packages: staged files are flushed side by side and finish in any order, and
   * which of two copies of the same bytes is the first (and which refusal is named) must not
   * depend on that. A failure is the lookup group's, thrown at the next step or by `finish`.
   */
  private inArchiveOrder(step: () => Promise<void>): void {
    const next = this.checked.then(step);
    this.checked = next.catch(() => {});
    void this.lookups.run(() => next);
  }

  /** Whether the store has the blob (then the staged file goes), else the new blob's record from its metadata. */
  private async settleStaged(member: string, relPath: string, mtime: number, file: string, format: BinpkgFormat, d: { size: number; md5: string; sha1: string; sha256: string }): Promise<PackageRecord> {
    const { size, md5, sha1, sha256 } = d;
    // One listing of the blob's directory tells whether it is stored (meta.json), or was uploaded
    // by a pull that died before recording it (the file alone): then it is not sent again. A store
    // without any blob (a first pull into a new bucket) is not asked per package.
    const present = (await this.storeHasBlobs()) ? await blobDirNames(this.store, sha256) : new Set<string>();
    const existing = present.has('meta.json') ? readBlobMeta(await this.store.get(keys.blobMeta(sha256)), sha256) : null;
    if (existing) {
      const signer = this.trust && existing.signed && !existing.signer ? await this.checkSignature(member, file, format, sha256) : existing.signer;
      if (this.repair?.blobShas.has(sha256)) this.repair.offerBlob(sha256, file);
      else unlinkSync(file);
      const record = { ...existing, origin: relPath, ...(signer ? { signer } : {}) };
      this.receive(relPath, { member, mtime, record, known: false });
      return record;
    }
    let meta;
    try {
      meta = await readBinpkgMetadata(file, format);
    } catch (err) {
      throw archiveError(member, `cannot read the package's metadata: ${(err as Error).message}`);
    }
    let stanza: Stanza;
    try {
      stanza = stanzaFromMetadata(meta, { size, md5, sha1 });
    } catch (err) {
      throw archiveError(member, (err as Error).message);
    }
    const signer = this.trust ? await this.checkSignature(member, file, format, sha256) : undefined;
    const record: PackageRecord = {
      origin: relPath,
      sha256,
      size,
      md5,
      sha1,
      format,
      signed: meta.signed,
      ...(signer ? { signer } : {}),
      stanza,
      description: meta.values.DESCRIPTION?.trim() || undefined,
    };
    const staged: StagedBlob = { file, record, storedNames: present };
    this.receive(relPath, { member, mtime, staged, record, known: false });
    return record;
  }

  /**
   * The package's signer when its signatures hold (Portage's rules, trust/gpkg-signature.ts). A bad
   * signature is refused here, whatever the policy; an unknown key is judged in `finish`.
   */
  private async checkSignature(member: string, file: string, format: BinpkgFormat, sha256: string): Promise<string | undefined> {
    if (format !== 'gpkg') return undefined;
    let check: PackageSignature;
    try {
      check = await checkGpkgSignature(file, this.trust!.keyring.home);
    } catch (err) {
      if (err instanceof GbpError) throw err; // gpg missing: the store's error, not the archive's
      throw archiveError(member, `its signatures cannot be read: ${(err as Error).message}`);
    }
    if (check.status === 'bad') throw archiveError(member, `bad signature: ${check.reason}; a client that verifies signatures would refuse this package`);
    if (check.status === 'unknown-key') this.unknownSigners.set(sha256, check.keyId);
    return check.status === 'good' ? check.signer : undefined;
  }

  /** The policy's word on a package the trusted keys do not vouch for: a warning, or the refusal. */
  private judge(member: string, r: PackageRecord, machineHint: string): void {
    const { rules, keyring } = this.trust!;
    if (r.signer && keyring.fingerprints.has(r.signer)) return;
    if (r.signed) {
      const key = r.signer ?? this.unknownSigners.get(r.sha256) ?? 'unknown';
      if (rules.unknownKey === 'allow') {
        this.warnings.push(`${member}: signed by key ${key}, which this site does not trust; published, and clients are told not to verify signatures`);
        return;
      }
      throw archiveError(member, `signed by key ${key}, which this site does not trust: add it with 'gbp keys add FILE', or allow such packages with 'gbp keys policy${machineHint} --unknown-key allow'`);
    }
    if (rules.unsigned === 'allow') {
      this.warnings.push(`${member}: not signed; published, and clients are told not to verify signatures`);
      return;
    }
    throw archiveError(member, `not signed, and this site checks signatures: sign packages (FEATURES="binpkg-signing", BINPKG_FORMAT="gpkg") or allow unsigned ones with 'gbp keys policy${machineHint} --unsigned allow'`);
  }

  /** One listing, at most one key, for the whole pull. */
  private storeHasBlobs(): Promise<boolean> {
    this.hasBlobs ??= (async () => {
      for await (const _ of this.store.list('blobs/')) return true;
      return false;
    })();
    return this.hasBlobs;
  }

  private receive(relPath: string, r: Received): void {
    this.received.set(relPath, r);
  }

  /**
   * Cross-checks the packages against the build's index and returns the records in index order,
   * plus the new blobs to store. Throws an archive error naming the first inconsistency.
   */
  /** Waits for the store lookups in flight; throws the first refusal among them. */
  settle(): Promise<void> {
    return this.lookups.wait();
  }

  async finish(machine = ''): Promise<{ header: Stanza; packages: PackageRecord[]; newBlobs: StagedBlob[] }> {
    await this.lookups.wait();
    if (!this.index) {
      throw archiveError('binpkgs/Packages', "missing: the build's own Packages index is needed to check its packages");
    }
    const packages: PackageRecord[] = [];
    const newBlobs = new Map<string, StagedBlob>();
    for (const entry of this.index.entries) {
      const path = entry.PATH;
      const member = `binpkgs/${path}`;
      const got = this.received.get(path);
      if (!got) throw archiveError(member, 'listed in binpkgs/Packages but not in the archive');
      const r = got.record;
      checkAgainstIndex(member, entry, r);
      if (entry.CPV && entry.CPV !== r.stanza.CPV) {
        throw archiveError(member, `the package's metadata says ${r.stanza.CPV} but binpkgs/Packages says ${entry.CPV}`);
      }
      if (entry.BUILD_ID && r.stanza.BUILD_ID && entry.BUILD_ID !== r.stanza.BUILD_ID) {
        throw archiveError(member, `the package's metadata says BUILD_ID ${r.stanza.BUILD_ID} but binpkgs/Packages says ${entry.BUILD_ID}`);
      }
      if (got.staged) {
        const staged = newBlobs.get(r.sha256) ?? got.staged;
        if (!staged.record.stanza.PATH) finaliseNewRecord(staged.record, entry, got.mtime);
        newBlobs.set(r.sha256, staged);
        packages.push({ ...staged.record, origin: path });
      } else {
        packages.push(r.stanza.PATH ? r : finaliseNewRecord(r, entry, got.mtime));
      }
    }
    if (this.trust) for (const p of packages) this.judge(`binpkgs/${p.origin}`, p, machine ? ` --machine ${machine}` : '');
    for (const [path, got] of this.received) {
      if (!this.indexByPath.has(path)) this.warnings.push(`${got.member}: not listed in binpkgs/Packages; not published`);
    }
    this.stats.packages = packages.length;
    this.stats.bytes = packages.reduce((n, p) => n + p.size, 0);
    this.stats.newPackages = newBlobs.size;
    this.stats.newBytes = [...newBlobs.values()].reduce((n, b) => n + b.record.size, 0);
    const header = { ...this.index.header };
    return { header, packages, newBlobs: [...newBlobs.values()] };
  }
}

function checkAgainstIndex(member: string, entry: Stanza, file: { size: number; md5: string; sha1: string }): void {
  const mismatches = [
    ['SIZE', entry.SIZE, String(file.size)],
    ['MD5', entry.MD5, file.md5],
    ['SHA1', entry.SHA1, file.sha1],
  ].filter(([, want, have]) => want !== have);
  if (mismatches.length) {
    const what = mismatches.map(([k, want, have]) => `${k} ${want ?? '(missing)'} in the index, ${have} in the file`).join('; ');
    throw archiveError(member, `does not match binpkgs/Packages: ${what}`);
  }
}

/**
 * Fixes what a new blob keeps for life (invariant 4): its name and PATH, and its MTIME, taken from
 * the build's own index (what Portage recorded when it made the package), else the member's mtime.
 */
function finaliseNewRecord(record: PackageRecord, entry: Stanza, memberMtime: number): PackageRecord {
  const ext = record.origin.endsWith('.gpkg.tar') ? '.gpkg.tar' : record.origin.endsWith('.tbz2') ? '.tbz2' : '.xpak';
  const pf = record.stanza.CPV.split('/')[1];
  const base = /^[A-Za-z0-9+_.-]+$/.test(pf) ? pf : 'package';
  const name = record.stanza.BUILD_ID ? `${base}-${record.stanza.BUILD_ID}${ext}` : `${base}${ext}`;
  const mtime = /^\d+$/.test(entry.MTIME ?? '') ? entry.MTIME : String(memberMtime);
  record.stanza = { ...record.stanza, PATH: blobPath(record.sha256, name), MTIME: mtime };
  return record;
}
