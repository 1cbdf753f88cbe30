/**
 * Signed site records. Portage does not sign its Packages index, and a bucket's credentials let
 * anyone holding them rewrite it, so the publisher signs each build's record (build.json: every
 * package's full index entry and SHA-256, every tree manifest's SHA-256) with the site key, beside
 * it as `build.json.<key id>.sig`. A reader given the site's public keys (`gbp sync`,
 * `gbp export-rsync` from a bucket) checks the signature before it uses the record, and then
 * checks every object it reads against the record's digests: what it copies or serves is what the
 * publisher wrote, or it stops.
 *
 * The signature covers the record's object name and the SHA-256 of its exact bytes, so a record
 * cannot be moved to another build or machine. Not covered: which build a machine publishes
 * (state.json), which a bucket writer can still point at another signed build.
 */
import { GbpError } from '../errors.js';
import { parseBuildManifest, type BuildManifest } from './build-manifest.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/store.js';
import { signBytes, verifyBytes, type SitePublicKey, type SiteSecretKey } from '../trust/site-key.js';
import { sha256Hex } from '../util/sha256.js';

const SIGNATURE_FORMAT = 1;
/** A signature object larger than this is not read. */
const MAX_SIGNATURE_BYTES = 4096;

interface RecordSignature {
  format: number;
  algorithm: 'ed25519';
  /** The signing key's id and name. */
  key: string;
  name: string;
  /** The object signed, and the SHA-256 of its bytes. */
  signed: string;
  sha256: string;
  signature: string;
}

/** What is signed: a fixed prefix (a signature for nothing else gbp signs), the name, the digest. */
const message = (path: string, digest: string) => Buffer.from(`gbp-site-record-1\n${path}\n${digest}\n`);

/** The signature object for a build record's bytes, by this key. */
export function signatureOf(key: SiteSecretKey, path: string, data: Buffer): Buffer {
  const digest = sha256Hex(data);
  const sig: RecordSignature = {
    format: SIGNATURE_FORMAT,
    algorithm: 'ed25519',
    key: key.publicKey.id,
    name: key.publicKey.name,
    signed: path,
    sha256: digest,
    signature: signBytes(key, message(path, digest)).toString('base64'),
  };
  return Buffer.from(`${JSON.stringify(sig, null, 1)}\n`);
}

/** Signs a build's record as stored (its exact bytes), beside it. */
export async function signBuild(store: Store, key: SiteSecretKey, machine: string, id: string, data: Buffer): Promise<void> {
  const path = keys.buildJson(machine, id);
  await store.put(keys.buildSignature(machine, id, key.publicKey.id), signatureOf(key, path, data), { contentType: 'application/json' });
}

export type SignatureVerdict = { status: 'good'; key: SitePublicKey } | { status: 'unsigned' } | { status: 'bad'; key: SitePublicKey; reason: string };

/** Which of the trusted keys signed this record's bytes. A good signature by any of them is enough. */
export async function checkBuildSignature(store: Store, trusted: SitePublicKey[], machine: string, id: string, data: Buffer): Promise<SignatureVerdict> {
  const path = keys.buildJson(machine, id);
  const digest = sha256Hex(data);
  let bad: SignatureVerdict | null = null;
  for (const key of trusted) {
    const raw = await store.get(keys.buildSignature(machine, id, key.id));
    if (!raw) continue;
    const reason = signatureProblem(raw, key, path, digest);
    if (!reason) return { status: 'good', key };
    bad ??= { status: 'bad', key, reason };
  }
  return bad ?? { status: 'unsigned' };
}

function signatureProblem(raw: Buffer, key: SitePublicKey, path: string, digest: string): string | null {
  if (raw.length > MAX_SIGNATURE_BYTES) return 'the signature object is too large';
  let sig: RecordSignature;
  try {
    sig = JSON.parse(raw.toString('utf8')) as RecordSignature;
  } catch {
    return 'the signature object is not valid JSON';
  }
  if (sig?.format !== SIGNATURE_FORMAT || sig.algorithm !== 'ed25519' || typeof sig.signature !== 'string') return 'the signature object is not one gbp writes';
  if (sig.key !== key.id || sig.signed !== path) return `the signature is for ${sig.signed} by key ${sig.key}`;
  if (sig.sha256 !== digest) return 'the record was changed after it was signed (its SHA-256 differs)';
  if (!verifyBytes(key, message(path, digest), Buffer.from(sig.signature, 'base64'))) return 'the signature does not verify';
  return null;
}

/**
 * Reads build records for a command that trusts them only once verified. `trusted` null: the
 * records are taken as they are (a directory the admin owns, or --unverified). Each record is
 * checked once per process, by the SHA-256 of its bytes (export --watch reads them every round).
 */
export class RecordReader {
  private readonly verified = new Map<string, string>();

  constructor(readonly trusted: SitePublicKey[] | null) {}

  get verifying(): boolean {
    return this.trusted !== null;
  }

  /** The build's record and its exact bytes, verified when this reader verifies; null when absent. */
  async readBuild(store: Store, machine: string, id: string): Promise<{ build: BuildManifest; raw: Buffer } | null> {
    const path = keys.buildJson(machine, id);
    const raw = await store.get(path);
    if (!raw) return null;
    if (this.trusted) {
      const digest = sha256Hex(raw);
      if (this.verified.get(path) !== digest) {
        const verdict = await checkBuildSignature(store, this.trusted, machine, id, raw);
        if (verdict.status === 'unsigned') {
          throw new GbpError('untrusted', path, `is not signed by a trusted site key (${this.trusted.map((k) => `${k.name}, id ${k.id}`).join('; ')}): refused. On the publisher: gbp site-key sign`);
        }
        if (verdict.status === 'bad') throw new GbpError('untrusted', path, `signature by ${verdict.key.name} (id ${verdict.key.id}): ${verdict.reason}; refused`);
        this.verified.set(path, digest);
      }
    }
    const build = parseBuildManifest(raw, path);
    if (build.machine !== machine || build.id !== id) throw new GbpError('store', path, `records build ${build.machine} ${build.id}, not ${machine} ${id}`);
    return { build, raw };
  }

  async requireBuild(store: Store, machine: string, id: string): Promise<{ build: BuildManifest; raw: Buffer }> {
    const r = await this.readBuild(store, machine, id);
    if (!r) throw new GbpError('not-found', `${machine} ${id}`, 'the build record is missing');
    return r;
  }
}

/**
 * The reader a command uses on `store`: verifying against `trusted` when given; a bucket without
 * trusted keys only with `unverified`, since anyone with its credentials could have written it.
 */
export function recordReaderFor(store: Store, trusted: SitePublicKey[], unverified: boolean): RecordReader {
  if (trusted.length && unverified) throw new GbpError('usage', '--unverified', 'give either trusted site keys or --unverified, not both');
  if (trusted.length) return new RecordReader(trusted);
  if (store.kind === 'bucket' && !unverified) {
    throw new GbpError(
      'usage',
      store.location,
      "a bucket's build records are checked before they are trusted: give the publisher's site public key with --trust-site-key KEY|FILE (env GBP_TRUSTED_SITE_KEYS), or --unverified to read them unchecked",
    );
  }
  return new RecordReader(null);
}
