/**
 * Checks a GPKG's signatures by Portage's rules (lib/portage/gpkg.py, `_verify_binpkg`): a package
 * is signed when any member has a `.sig` or its Manifest is clearsigned; then the Manifest's
 * signature must be good, every member other than `gpkg-1` needs a detached `<member>.sig` that
 * is good over its bytes, and each member's size, SHA512 and BLAKE2B must be what the signed
 * Manifest says. Portage also requires the key to be trusted in /etc/portage/gnupg; here the
 * GnuPG home holds the site's trusted keys only, so a key gpg knows is a trusted one.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { PassThrough, Readable } from 'node:stream';
import { gpkgMembers, type OuterMember } from '../binpkg/gpkg.js';
import type { GpgHome, SignatureCheck } from './gpg.js';

export type PackageSignature =
  | { status: 'unsigned' }
  | { status: 'good'; signer: string }
  | { status: 'bad'; reason: string }
  | { status: 'unknown-key'; keyId: string };

const MAX_SIG = 64 << 10;
const MAX_MANIFEST = 1 << 20;

export async function checkGpkgSignature(path: string, home: GpgHome): Promise<PackageSignature> {
  const members = await gpkgMembers(path);
  const byName = new Map(members.map((m) => [m.name, m]));
  const manifest = byName.get('Manifest');
  if (!manifest || manifest.size > MAX_MANIFEST) return { status: 'bad', reason: 'no readable Manifest' };
  const manifestText = await readRange(path, manifest);
  const signed = members.some((m) => m.name.endsWith('.sig')) || manifestText.includes('-----BEGIN PGP SIGNATURE-----');
  if (!signed) return { status: 'unsigned' };

  const verdict = (what: string, check: SignatureCheck): PackageSignature | null => {
    if (check.status === 'good') return null;
    if (check.status === 'unknown-key') return { status: 'unknown-key', keyId: check.keyId };
    return { status: 'bad', reason: `${what}: ${check.status === 'bad' ? `${check.reason} (key ${check.keyId})` : check.reason}` };
  };
  const signedManifest = await home.readClearsigned(manifestText);
  const manifestVerdict = verdict('Manifest', signedManifest.check);
  if (manifestVerdict) return manifestVerdict;
  const signer = (signedManifest.check as { fingerprint: string }).fingerprint;
  const digests = manifestDigests(signedManifest.text.toString('utf8'));

  for (const m of members) {
    if (m.name === 'Manifest' || m.name.endsWith('.sig')) continue;
    const listed = digests.get(m.name);
    if (!listed) return { status: 'bad', reason: `the signed Manifest does not list ${m.name}` };
    if (listed.size !== m.size) return { status: 'bad', reason: `${m.name} is ${m.size} bytes, the signed Manifest says ${listed.size}` };
    const sig = byName.get(`${m.name}.sig`);
    if (!sig && m.name !== 'gpkg-1') return { status: 'bad', reason: `${m.name} has no signature (${m.name}.sig)` };
    if (sig && sig.size > MAX_SIG) return { status: 'bad', reason: `${m.name}.sig is larger than 64 KiB` };
    // one read of the member: gpg and the two digests take the same bytes
    const sha512 = createHash('sha512');
    const blake2b = createHash('blake2b512');
    const bytes = m.size ? createReadStream(path, { start: m.offset, end: m.offset + m.size - 1 }) : Readable.from([]);
    const toGpg = new PassThrough();
    bytes.on('data', (c: Buffer) => {
      sha512.update(c);
      blake2b.update(c);
    });
    bytes.pipe(toGpg);
    const check = sig ? await home.verifyDetached(await readRange(path, sig), toGpg) : (await drain(toGpg), null);
    bytes.destroy(); // gpg may have stopped reading at a bad signature
    const v = check && verdict(m.name, check);
    if (v) return v;
    if (sha512.digest('hex') !== listed.SHA512 || blake2b.digest('hex') !== listed.BLAKE2B) {
      return { status: 'bad', reason: `${m.name} does not match its digests in the signed Manifest` };
    }
  }
  return { status: 'good', signer };
}

function manifestDigests(text: string): Map<string, { size: number; SHA512?: string; BLAKE2B?: string }> {
  const out = new Map<string, { size: number; SHA512?: string; BLAKE2B?: string }>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[0] !== 'DATA' || f.length < 3) continue;
    const entry: { size: number; SHA512?: string; BLAKE2B?: string } = { size: Number(f[2]) };
    for (let i = 3; i + 1 < f.length; i += 2) if (f[i] === 'SHA512' || f[i] === 'BLAKE2B') entry[f[i] as 'SHA512' | 'BLAKE2B'] = f[i + 1].toLowerCase();
    out.set(f[1], entry);
  }
  return out;
}

async function readRange(path: string, m: OuterMember): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(m.size);
    await fh.read(buf, 0, m.size, m.offset);
    return buf;
  } finally {
    await fh.close();
  }
}

function drain(s: PassThrough): Promise<void> {
  return new Promise((resolve, reject) => {
    s.on('data', () => {}).on('end', resolve).on('error', reject);
  });
}
