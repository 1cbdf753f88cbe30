/**
 * `gbp site-key`: the key the publisher signs build records with (records/record-signatures.ts).
 * `generate` makes one; `sign` signs recorded builds with it (those stored before the site had a
 * key, or every build with a new key before the old one is retired); `verify` checks every
 * recorded build against the public keys a reader trusts, as sync and export-rsync do.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { GbpError } from '../errors.js';
import { listMachines, requireState } from '../records/machine-state.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/store.js';
import { generateSiteKey, type SitePublicKey, type SiteSecretKey } from '../trust/site-key.js';
import { checkBuildSignature, signBuild } from '../records/record-signatures.js';

export interface GeneratedKey {
  name: string;
  id: string;
  /** The line to give verifiers (--trust-site-key, GBP_TRUSTED_SITE_KEYS). */
  publicKey: string;
  secretFile: string;
  publicFile: string;
}

/** A new key pair: the secret key in `file` (mode 0600, never overwritten), the public key in `file`.pub. */
export function generateKey(name: string, file: string): GeneratedKey {
  const { secret, publicKey } = generateSiteKey(name);
  const publicFile = `${file}.pub`;
  writeNew(file, secret, 0o600);
  writeNew(publicFile, `${publicKey.text}\n`, 0o644);
  return { name, id: publicKey.id, publicKey: publicKey.text, secretFile: file, publicFile };
}

function writeNew(path: string, text: string, mode: number): void {
  let fd: number;
  try {
    fd = openSync(path, 'wx', mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new GbpError(code === 'EEXIST' ? 'usage' : 'input', path, code === 'EEXIST' ? 'exists already: a key file is never overwritten' : `cannot be written (${code})`);
  }
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

export interface BuildSignatureRow {
  machine: string;
  id: string;
  status: 'good' | 'unsigned' | 'bad' | 'signed';
  key?: string;
  reason?: string;
}

/** The recorded builds named (a machine, some of its builds), or every build of every machine. */
async function* recordedBuilds(store: Store, machine?: string, ids: string[] = []): AsyncGenerator<{ machine: string; id: string }> {
  for (const m of machine ? [machine] : await listMachines(store)) {
    const state = await requireState(store, m);
    const recorded = new Set(state.builds.map((b) => b.id));
    for (const id of ids) if (!recorded.has(id)) throw new GbpError('not-found', `${m} ${id}`, 'no such build');
    for (const b of state.builds) if (!ids.length || ids.includes(b.id)) yield { machine: m, id: b.id };
  }
}

/**
 * Signs the records as they are stored, those this key has not signed already. What is signed is
 * what the store holds now: run it on a store you trust (after gbp fsck, on the publisher's side).
 */
export async function signBuilds(store: Store, key: SiteSecretKey, machine?: string, ids?: string[]): Promise<{ key: string; rows: BuildSignatureRow[] }> {
  const rows: BuildSignatureRow[] = [];
  for await (const b of recordedBuilds(store, machine, ids)) {
    const raw = await store.get(keys.buildJson(b.machine, b.id));
    if (!raw) throw new GbpError('store', keys.buildJson(b.machine, b.id), 'listed in state.json but missing; run gbp fsck');
    const verdict = await checkBuildSignature(store, [key.publicKey], b.machine, b.id, raw);
    if (verdict.status === 'good') {
      rows.push({ ...b, status: 'good', key: key.publicKey.id });
      continue;
    }
    await signBuild(store, key, b.machine, b.id, raw);
    rows.push({ ...b, status: 'signed', key: key.publicKey.id, ...(verdict.status === 'bad' ? { reason: `replaced a signature that did not hold: ${verdict.reason}` } : {}) });
  }
  return { key: `${key.publicKey.name} (id ${key.publicKey.id})`, rows };
}

/** Every recorded build's record against the trusted keys, as a reader of the store would check it. */
export async function verifyBuilds(store: Store, trusted: SitePublicKey[], machine?: string): Promise<BuildSignatureRow[]> {
  if (!trusted.length) throw new GbpError('usage', '--trust-site-key', 'give the public keys to check against (a key, or a file of them; env GBP_TRUSTED_SITE_KEYS)');
  const rows: BuildSignatureRow[] = [];
  for await (const b of recordedBuilds(store, machine)) {
    const raw = await store.get(keys.buildJson(b.machine, b.id));
    if (!raw) {
      rows.push({ ...b, status: 'bad', reason: 'the record is missing' });
      continue;
    }
    const v = await checkBuildSignature(store, trusted, b.machine, b.id, raw);
    rows.push(v.status === 'good' ? { ...b, status: 'good', key: v.key.name } : v.status === 'bad' ? { ...b, status: 'bad', key: v.key.name, reason: v.reason } : { ...b, status: 'unsigned' });
  }
  return rows;
}
