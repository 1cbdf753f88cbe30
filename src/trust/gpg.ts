/**
 * GnuPG, run as Portage runs it to check a binary package: `gpg --verify --batch --no-tty
 * --status-fd` (make.globals' BINPKG_GPG_VERIFY_BASE_COMMAND), its machine-readable status lines
 * read rather than its prose. Each verification gets a home holding only the keys gbp trusts, so
 * any key gpg finds there is trusted, and an unknown key shows as NO_PUBKEY.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { GbpError } from '../errors.js';

/** What one signature says: made by which key, and whether it holds over the bytes. */
export type SignatureCheck =
  | { status: 'good'; fingerprint: string }
  | { status: 'bad'; keyId: string; reason: string }
  | { status: 'unknown-key'; keyId: string }
  | { status: 'none'; reason: string };

/** A key as gpg reads it from an armoured export. */
export interface KeyInfo {
  fingerprint: string;
  uids: string[];
  /** Unix seconds, or null for a key that does not expire. */
  expires: number | null;
  revoked: boolean;
}

const GPG = process.env.GBP_GPG || 'gpg';
/**
 * Verification runs gpgv, GnuPG's verify-only tool: it reads the keyring without gpg's locks and
 * trust database, so 16 checks at once run side by side (with gpg they queued on the keybox lock:
 * 71 ms a package at 16 in flight against 34 ms one at a time).
 */
const GPGV = process.env.GBP_GPGV || 'gpgv';
const BASE = ['--batch', '--no-tty', '--no-auto-check-trustdb', '--no-autostart', '--status-fd', '2'];
/** A signature, a key file or a clearsigned Manifest larger than this is not read. */
const MAX_TEXT = 1 << 20;

function run(args: string[], input: Buffer | Readable | null, tool = GPG): Promise<{ code: number; status: string; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'ENOENT' ? new GbpError('store', tool, 'GnuPG is not installed (apt-get install gpg gpgv): it checks package signatures') : e),
    );
    child.stdin.on('error', () => {}); // gpg may stop reading early (a bad signature); its status says why
    child.on('close', (code) => resolve({ code: code ?? 1, status: Buffer.concat(err).toString('utf8'), stdout: Buffer.concat(out).toString('utf8') }));
    if (!input) child.stdin.end();
    else if (Buffer.isBuffer(input)) child.stdin.end(input);
    else input.pipe(child.stdin);
  });
}

/** A GnuPG home of its own, removed by `dispose`. */
export class GpgHome {
  readonly dir = mkdtempSync(join(tmpdir(), 'gbp-gnupg-'));

  /** Imports armoured public keys (each one file's text). */
  async importKeys(armoured: Buffer[]): Promise<void> {
    for (const key of armoured) {
      const r = await run(['--homedir', this.dir, ...BASE, '--import'], key);
      if (r.code !== 0 && !/IMPORT_OK/.test(r.status)) throw new GbpError('store', 'keys', `gpg could not import a trusted key:\n${statusTail(r.status)}`);
    }
  }

  /** One key as an armoured export: that key alone, without third-party signatures. */
  async exportKey(fingerprint: string): Promise<Buffer> {
    const r = await run(['--homedir', this.dir, ...BASE, '--armor', '--export-options', 'export-minimal', '--export', fingerprint], null);
    if (r.code !== 0 || !r.stdout.includes('BEGIN PGP PUBLIC KEY BLOCK')) throw new GbpError('internal', fingerprint, 'gpg did not export the key it imported');
    return Buffer.from(r.stdout);
  }

  /** A detached signature over a stream of bytes. */
  verifyDetached(signature: Buffer, data: Readable): Promise<SignatureCheck> {
    const sig = join(this.dir, `sig-${process.hrtime.bigint()}`);
    writeFileSync(sig, signature);
    return run([...this.verifyArgs(), sig, '-'], data, GPGV)
      .then((r) => readStatus(r.status))
      .finally(() => rmSync(sig, { force: true }));
  }

  /**
   * A clearsigned text (a GPKG's Manifest): the verdict, and the text the signature covers as gpg
   * gives it back (what Portage reads too: lines outside the signed part are not trusted).
   */
  async readClearsigned(text: Buffer): Promise<{ check: SignatureCheck; text: Buffer }> {
    if (text.length > MAX_TEXT) return { check: { status: 'none', reason: 'the signed text is larger than 1 MiB' }, text: Buffer.alloc(0) };
    const r = await run([...this.verifyArgs(), '--output', '-'], text, GPGV);
    return { check: readStatus(r.status), text: Buffer.from(r.stdout, 'utf8') };
  }

  private verifyArgs(): string[] {
    return ['--homedir', this.dir, '--keyring', join(this.dir, 'pubring.kbx'), '--status-fd', '2'];
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The keys in an armoured file, read without importing them anywhere. */
export async function readKeyFile(armoured: Buffer): Promise<KeyInfo[]> {
  if (armoured.length > MAX_TEXT) throw new GbpError('usage', 'key file', 'is larger than 1 MiB; not an OpenPGP public key export');
  if (/-----BEGIN PGP PRIVATE KEY BLOCK-----/.test(armoured.toString('latin1'))) {
    throw new GbpError('usage', 'key file', 'holds a secret key: give gbp the public key only (gpg --export --armor KEYID)');
  }
  const home = new GpgHome();
  try {
    const r = await run(['--homedir', home.dir, ...BASE, '--with-colons', '--import-options', 'show-only', '--import'], armoured);
    const keys: KeyInfo[] = [];
    let current: KeyInfo | null = null;
    let expectFpr = false;
    for (const line of r.stdout.split('\n')) {
      const f = line.split(':');
      if (f[0] === 'pub') {
        current = { fingerprint: '', uids: [], expires: f[6] ? Number(f[6]) : null, revoked: f[1] === 'r' };
        keys.push(current);
        expectFpr = true;
      } else if (f[0] === 'sub') expectFpr = false;
      else if (f[0] === 'fpr' && current && expectFpr) {
        current.fingerprint = f[9];
        expectFpr = false;
      } else if (f[0] === 'uid' && current) current.uids.push(unescapeColons(f[9]));
    }
    return keys.filter((k) => /^[0-9A-F]{40,64}$/.test(k.fingerprint));
  } finally {
    home.dispose();
  }
}

/**
 * One signature's verdict from gpg's status lines. VALIDSIG carries the primary key's fingerprint
 * (its last field): that, not the signing subkey, is what a trusted key is named by.
 */
export function readStatus(status: string): SignatureCheck {
  const lines = status.split('\n').filter((l) => l.startsWith('[GNUPG:] '));
  const field = (tag: string) => lines.find((l) => l.startsWith(`[GNUPG:] ${tag} `) || l === `[GNUPG:] ${tag}`)?.split(' ').slice(2);
  if (lines.filter((l) => l.startsWith('[GNUPG:] NEWSIG')).length > 1) return { status: 'none', reason: 'more than one signature' };
  const bad = field('BADSIG');
  if (bad) return { status: 'bad', keyId: bad[0], reason: 'the signature does not match the signed bytes' };
  for (const [tag, reason] of [
    ['EXPKEYSIG', 'made by an expired key'],
    ['REVKEYSIG', 'made by a revoked key'],
    ['EXPSIG', 'the signature has expired'],
  ] as const) {
    const f = field(tag);
    if (f) return { status: 'bad', keyId: f[0], reason };
  }
  const valid = field('VALIDSIG');
  if (field('GOODSIG') && valid) return { status: 'good', fingerprint: valid[valid.length - 1] };
  const noKey = field('NO_PUBKEY');
  if (noKey) return { status: 'unknown-key', keyId: noKey[0] };
  const err = field('ERRSIG');
  if (err) return { status: 'bad', keyId: err[0], reason: `gpg cannot check it (ERRSIG, code ${err[5] ?? '?'})` };
  if (field('NODATA')) return { status: 'none', reason: 'no OpenPGP signature in it' };
  return { status: 'none', reason: 'gpg found no valid signature' };
}

function statusTail(status: string): string {
  return status.split('\n').filter(Boolean).slice(-6).join('\n');
}

function unescapeColons(s: string): string {
  return s.replace(/\\x([0-9a-f]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16)));
}
