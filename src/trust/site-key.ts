/**
 * The site key: an Ed25519 key pair the publisher signs its build records with, so a mirror or an
 * exporter reading a bucket can tell that what it reads was written by the publisher and not by
 * anyone else who can write the bucket. Written as Nix writes binary-cache keys (`name:base64`,
 * `nix-store --generate-binary-cache-key`), because the model is the same: a named key, several
 * trusted at once while one replaces another. Node's own Ed25519: no daemon, no keyring, and a
 * signature costs microseconds.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { GbpError } from '../errors.js';
import { sha256Hex } from '../util/sha256.js';

export interface SitePublicKey {
  /** The name its owner gave it (e.g. `binhost.example.org-1`), for messages. */
  name: string;
  /** 16 hex digits of SHA-256 over the raw public key: what a signature's object name carries. */
  id: string;
  /** `name:base64`: the line verifiers are given. */
  text: string;
  key: KeyObject;
}

export interface SiteSecretKey {
  publicKey: SitePublicKey;
  key: KeyObject;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const b64url = (b: Buffer) => b.toString('base64url');

export function keyIdOf(raw: Buffer): string {
  return sha256Hex(raw).slice(0, 16);
}

function publicFromRaw(name: string, raw: Buffer): SitePublicKey {
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(raw) }, format: 'jwk' });
  return { name, id: keyIdOf(raw), text: `${name}:${raw.toString('base64')}`, key };
}

/** A new key pair: the secret key's text (keep it like a password) and the public key. */
export function generateSiteKey(name: string): { secret: string; publicKey: SitePublicKey } {
  if (!NAME.test(name)) throw new GbpError('usage', name, 'a key name is letters, digits, dots, dashes and underscores (e.g. binhost.example.org-1)');
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const seed = Buffer.from(jwk.d!, 'base64url');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  return { secret: `${name}:${Buffer.concat([seed, raw]).toString('base64')}\n`, publicKey: publicFromRaw(name, raw) };
}

function splitKeyText(text: string, what: string): { name: string; raw: Buffer } {
  const line = text.trim();
  const at = line.lastIndexOf(':');
  const name = line.slice(0, at);
  const raw = Buffer.from(line.slice(at + 1), 'base64');
  if (at < 1 || !NAME.test(name) || !/^[A-Za-z0-9+/]+={0,2}$/.test(line.slice(at + 1))) {
    throw new GbpError('usage', what, 'is not a site key (name:base64, as gbp site-key generate writes it)');
  }
  return { name, raw };
}

/** A secret key file's text: `name:base64(seed ‖ public key)`. */
export function parseSecretKey(text: string, what: string): SiteSecretKey {
  const { name, raw } = splitKeyText(text, what);
  if (raw.length !== 64) throw new GbpError('usage', what, 'is not a site secret key (64 bytes after the name; was this the .pub file?)');
  const seed = raw.subarray(0, 32);
  const pub = raw.subarray(32);
  const key = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: b64url(seed), x: b64url(pub) }, format: 'jwk' });
  const publicKey = publicFromRaw(name, pub);
  // the two halves must belong together, or everything signed would fail to verify
  if (!verify(null, Buffer.from('gbp'), publicKey.key, sign(null, Buffer.from('gbp'), key))) throw new GbpError('usage', what, 'its public half does not match its secret half');
  return { publicKey, key };
}

/** A public key: `name:base64(32 bytes)`. */
export function parsePublicKey(text: string, what: string): SitePublicKey {
  const { name, raw } = splitKeyText(text, what);
  if (raw.length !== 32) throw new GbpError('usage', what, 'is not a site public key (32 bytes after the name)');
  return publicFromRaw(name, raw);
}

/** A secret key from a file (GBP_SITE_KEY, --site-key). */
export function readSecretKeyFile(path: string): SiteSecretKey {
  return parseSecretKey(readKeyText(path), path);
}

/**
 * Trusted public keys as a verifier is given them: each item a key itself (`name:base64`) or a
 * file holding one per line (blank lines and # comments allowed).
 */
export function readTrustedSiteKeys(items: string[]): SitePublicKey[] {
  const out = new Map<string, SitePublicKey>();
  for (const item of items.flatMap((i) => i.split(/[\s,]+/)).filter(Boolean)) {
    const lines = /^[^/]+:[A-Za-z0-9+/]{43}=$/.test(item) ? [item] : readKeyText(item).split('\n');
    for (const line of lines.map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))) {
      const k = parsePublicKey(line, item);
      out.set(k.id, k);
    }
  }
  return [...out.values()];
}

function readKeyText(path: string): string {
  try {
    const text = readFileSync(path, 'utf8');
    if (text.length > 64 * 1024) throw new GbpError('usage', path, 'is too large to be a site key file');
    return text;
  } catch (err) {
    if (err instanceof GbpError) throw err;
    throw new GbpError('input', path, `cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export const signBytes = (key: SiteSecretKey, message: Buffer) => sign(null, message, key.key);
export const verifyBytes = (key: SitePublicKey, message: Buffer, signature: Buffer) => {
  try {
    return verify(null, message, key.key, signature);
  } catch {
    return false;
  }
};
