/**
 * The signing keys a site trusts, kept in the store itself (`keys/<FINGERPRINT>.asc`), so every
 * publisher, exporter and mirror of the store sees one set, and clients fetch the same files from
 * the site (`keys/trusted.asc` holds them all). A key is named by its primary fingerprint; the
 * file holds that key alone, as gpg exports it.
 */
import { GbpError } from '../errors.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/store.js';
import { GpgHome, readKeyFile, type KeyInfo } from './gpg.js';

const KEY_TYPE = 'application/pgp-keys';
const FINGERPRINT = /^[0-9A-F]{40}$|^[0-9A-F]{64}$/;

export interface TrustedKey extends KeyInfo {
  key: string;
}

export async function listTrustedKeys(store: Store): Promise<TrustedKey[]> {
  const out: TrustedKey[] = [];
  for await (const key of store.list('keys/')) {
    const fpr = /^keys\/([0-9A-F]+)\.asc$/.exec(key)?.[1];
    if (!fpr || !FINGERPRINT.test(fpr)) continue;
    const data = await store.get(key);
    if (!data) continue;
    const [info] = (await readKeyFile(data)).filter((k) => k.fingerprint === fpr);
    if (!info) throw new GbpError('store', key, 'does not hold the key its name says');
    out.push({ ...info, key });
  }
  return out.sort((a, b) => (a.fingerprint < b.fingerprint ? -1 : 1));
}

/** Adds the public keys of an armoured (or binary) export; returns those added. */
export async function addTrustedKeys(store: Store, file: Buffer): Promise<{ added: KeyInfo[]; present: KeyInfo[] }> {
  const found = await readKeyFile(file);
  if (!found.length) throw new GbpError('usage', 'key file', 'holds no OpenPGP public key (export one with: gpg --export --armor KEYID)');
  const home = new GpgHome();
  try {
    await home.importKeys([file]);
    const added: { info: KeyInfo; file: Buffer }[] = [];
    const present: KeyInfo[] = [];
    for (const k of found) {
      if (k.revoked) throw new GbpError('usage', k.fingerprint, 'this key is revoked: a client would refuse what it signs');
      if (k.expires !== null && k.expires * 1000 < Date.now()) throw new GbpError('usage', k.fingerprint, `this key expired on ${new Date(k.expires * 1000).toISOString().slice(0, 10)}`);
      if (await store.exists(keys.trustedKey(k.fingerprint))) present.push(k);
      else added.push({ info: k, file: await home.exportKey(k.fingerprint) });
    }
    // the bundle first, as for a removal: an add cut short leaves the bundle ahead of the key
    // files, never a key file that pulls do not see (fsck names the difference either way)
    await writeBundle(store, { extra: added.map((a) => ({ fingerprint: a.info.fingerprint, file: a.file })) });
    for (const a of added) await store.put(keys.trustedKey(a.info.fingerprint), a.file, { contentType: KEY_TYPE });
    return { added: added.map((a) => a.info), present };
  } finally {
    home.dispose();
  }
}

export async function removeTrustedKey(store: Store, fingerprint: string): Promise<KeyInfo> {
  const fpr = fingerprint.replace(/\s+/g, '').replace(/^0x/i, '').toUpperCase();
  const match = (await listTrustedKeys(store)).filter((k) => k.fingerprint === fpr || (fpr.length >= 16 && k.fingerprint.endsWith(fpr)));
  if (match.length !== 1) throw new GbpError('not-found', fingerprint, match.length ? 'names more than one trusted key; give the whole fingerprint' : 'is not a trusted key (gbp keys list)');
  // the bundle first: pulls trust what it holds, so a removal cut short leaves the key untrusted
  await writeBundle(store, { without: match[0].fingerprint });
  await store.delete(match[0].key);
  return match[0];
}

/** The trusted keys, in a GnuPG home of their own, for one pull's checks. */
export interface Keyring {
  home: GpgHome;
  fingerprints: Set<string>;
}

/**
 * A GnuPG home holding exactly the trusted keys, for a pull's checks; null when there are none.
 * Read from keys/trusted.asc, the file clients import too: one GET, and what is checked is what
 * is published.
 */
export async function openKeyring(store: Store): Promise<Keyring | null> {
  const bundle = await store.get(keys.trustedKeyBundle());
  if (!bundle) return null;
  const fingerprints = new Set((await readKeyFile(bundle)).map((k) => k.fingerprint));
  if (!fingerprints.size) throw new GbpError('store', keys.trustedKeyBundle(), "holds no key: re-add one with 'gbp keys add', which rewrites it");
  const home = new GpgHome();
  try {
    await home.importKeys([bundle]);
  } catch (err) {
    home.dispose();
    throw err;
  }
  return { home, fingerprints };
}

interface BundleChange {
  without?: string;
  extra?: { fingerprint: string; file: Buffer }[];
}

/**
 * keys/trusted.asc as the key files say it must be, but `without` and with `extra` (null: no key,
 * no bundle); in fingerprint order, whichever way a key came, so an add and fsck agree on one bundle.
 */
async function expectedBundle(store: Store, o: BundleChange = {}): Promise<Buffer | null> {
  const parts: { fingerprint: string; file: Buffer }[] = [...(o.extra ?? [])];
  for (const k of await listTrustedKeys(store)) if (k.fingerprint !== o.without) parts.push({ fingerprint: k.fingerprint, file: (await store.get(k.key))! });
  parts.sort((a, b) => (a.fingerprint < b.fingerprint ? -1 : 1));
  return parts.length ? Buffer.concat(parts.map((p) => p.file)) : null;
}

/** keys/trusted.asc, derived from the key files; removed when no key is left. */
async function writeBundle(store: Store, o: BundleChange = {}): Promise<void> {
  const bundle = await expectedBundle(store, o);
  if (bundle) await store.put(keys.trustedKeyBundle(), bundle, { contentType: KEY_TYPE });
  else await store.delete(keys.trustedKeyBundle());
}

/**
 * Whether keys/trusted.asc holds exactly the key files (a `keys add` or `remove` cut short leaves
 * them apart); `repair` rewrites it. What pulls trust is the bundle, so fsck names a difference.
 */
export async function checkBundle(store: Store, repair: boolean): Promise<boolean> {
  const want = await expectedBundle(store);
  const have = await store.get(keys.trustedKeyBundle());
  const same = want === null ? have === null : !!have && have.equals(want);
  if (!same && repair) await writeBundle(store);
  return same;
}
