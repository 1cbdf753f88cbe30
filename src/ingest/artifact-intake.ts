/**
 * The archive's aux/ files become the build's artifacts (a stage4 and its signature, a kernel
 * config, a plugin's data): each staged whole as it streams past, with the SHA-256 that names it
 * and the SHA-512 and BLAKE2b that catalyst's .DIGESTS give, never packed (a multi-gigabyte stage4
 * is downloaded whole, at its own URL). A file beside it named `<name>.asc` or `<name>.sig` is its
 * detached signature, checked against the site's trusted keys once the archive has been read: a
 * bad one refuses the build, a key the site does not trust follows the policy's unknown-key rule.
 * An artifact without a signature is taken (aux/ also carries plugins' unsigned data).
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, createReadStream, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { archiveError } from '../errors.js';
import type { ArtifactRecord } from '../records/build-manifest.js';
import type { MemberSink, PullTrust } from './binpkg-intake.js';
import { digestFile } from '../util/file-digests.js';

/** More files than this under aux/ is not a build's artifacts. */
export const MAX_ARTIFACTS = 1000;
/** Files from this size on are hashed in a worker thread (util/file-digests.ts). */
const WORKER_HASH_BYTES = 4 << 20;
/** A detached signature larger than this is not one. */
const MAX_SIGNATURE_BYTES = 64 * 1024;

export interface StagedArtifact {
  file: string;
  record: ArtifactRecord;
}

export interface ArtifactDigests {
  sha256: string;
  sha512: string;
  blake2b: string;
}

/** The three digests of a stream of chunks, as they pass. */
export class DigestSet {
  private readonly h = [createHash('sha256'), createHash('sha512'), createHash('blake2b512')] as const;

  update(chunk: Buffer): void {
    for (const h of this.h as readonly Hash[]) h.update(chunk);
  }

  digest(): ArtifactDigests {
    const [a, b, c] = this.h.map((h) => h.digest('hex'));
    return { sha256: a, sha512: b, blake2b: c };
  }
}


export class ArtifactIntake {
  readonly staged: StagedArtifact[] = [];
  readonly warnings: string[] = [];
  private seq = 0;
  private readonly hashing: Promise<void>[] = [];

  constructor(private readonly staging: string) {}

  /** An aux/ file, by its path below aux/. */
  beginFile(name: string, size: number): MemberSink {
    if (this.staged.length >= MAX_ARTIFACTS) throw archiveError(`aux/${name}`, `more than ${MAX_ARTIFACTS} files under aux/`);
    const file = join(this.staging, `artifact-${this.seq++}`);
    const fd = openSync(file, 'wx');
    // a large file is hashed off the read loop once staged; a small one as it passes
    const digests = size >= WORKER_HASH_BYTES ? null : new DigestSet();
    let written = 0;
    return {
      data: (chunk) => {
        digests?.update(chunk);
        for (let done = 0; done < chunk.length; ) done += writeSync(fd, chunk, done, chunk.length - done, written + done);
        written += chunk.length;
      },
      end: () => {
        closeSync(fd);
        const record: ArtifactRecord = { name, size, sha256: '', sha512: '', blake2b: '' };
        this.staged.push({ file, record });
        if (digests) Object.assign(record, digests.digest());
        else this.hashing.push(digestFile(file).then((d) => void Object.assign(record, d)));
      },
    };
  }

  /** Waits for the hashing in flight (a refused archive's staging directory is removed next). */
  async settle(): Promise<void> {
    await Promise.allSettled(this.hashing);
  }

  /** The records, each signature checked, in name order. */
  async finish(trust: PullTrust | null, machine?: string): Promise<ArtifactRecord[]> {
    await Promise.all(this.hashing);
    let byName = new Map(this.staged.map((a) => [a.record.name, a]));
    // gbp writes each artifact's .DIGESTS from the bytes it read; one the job shipped (catalyst's) is left out
    const shipped = this.staged.filter((a) => a.record.name.endsWith('.DIGESTS') && byName.has(a.record.name.slice(0, -'.DIGESTS'.length)));
    for (const a of shipped) this.warnings.push(`aux/${a.record.name}: left out; gbp writes the .DIGESTS of what it stored`);
    this.staged.splice(0, this.staged.length, ...this.staged.filter((a) => !shipped.includes(a)));
    byName = new Map(this.staged.map((a) => [a.record.name, a]));
    for (const a of this.staged) {
      const sig = byName.get(`${a.record.name}.asc`) ?? byName.get(`${a.record.name}.sig`);
      if (!sig) continue;
      a.record.signature = sig.record.name;
      if (!trust) continue;
      a.record.signer = await checkArtifactSignature(trust, `aux/${a.record.name}`, a.file, sig.record, sig.file, machine);
      if (!a.record.signer) this.warnings.push(`aux/${a.record.name}: signed by a key this site does not trust; published because the policy allows unknown signers`);
    }
    return this.staged.map((a) => a.record).sort((x, y) => (x.name < y.name ? -1 : 1));
  }
}

/**
 * The signer's fingerprint, or undefined for an unknown key the policy allows; refuses (exit 3)
 * a bad signature, and an unknown key the policy refuses.
 */
export async function checkArtifactSignature(
  trust: PullTrust,
  member: string,
  file: string,
  sig: { name: string; size: number },
  sigFile: string,
  machine?: string,
): Promise<string | undefined> {
  if (sig.size > MAX_SIGNATURE_BYTES) throw archiveError(sig.name, 'is too large to be a detached signature');
  const check = await trust.keyring.home.verifyDetached(readFileSync(sigFile), createReadStream(file));
  if (check.status === 'good' && trust.keyring.fingerprints.has(check.fingerprint)) return check.fingerprint;
  if (check.status === 'bad' || check.status === 'none') {
    throw archiveError(member, `bad signature (${sig.name}): ${check.reason}; the artifact is not what was signed`);
  }
  const key = check.status === 'unknown-key' ? check.keyId : check.fingerprint;
  const machineHint = machine ? ` --machine ${machine}` : '';
  if (trust.rules.unknownKey === 'allow') return undefined;
  throw archiveError(member, `signed by key ${key}, which this site does not trust: add it with 'gbp keys add FILE', or allow unknown signers with 'gbp keys policy${machineHint} --unknown-key allow'`);
}
