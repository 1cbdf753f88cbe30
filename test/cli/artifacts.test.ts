/**
 * Artifacts (stage4s and other files a build carries): aux/ of the archive and gbp attach. Each at
 * builds/<m>/<id>/artifacts/<name> with catalyst's .DIGESTS (checked with the real sha512sum and
 * b2sum), its detached signature checked against the trusted keys, the published build's at
 * machines/<m>/artifacts/<name> with latest.txt, on disk and in a bucket, through sync, fsck and
 * purge; hostile aux/ shapes refused with nothing stored.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gbp, snapshot, tempDir } from '../helpers/cli.js';
import { archiveMembers, tgz } from '../helpers/fixture-archive.js';
import { fixture } from '../helpers/fixtures.js';
import { newPublicBucket, rgwEnv } from '../helpers/s3.js';
import type { Member } from '../helpers/tar-builder.js';

const BUILD1 = fixture('build-archive/build.tar.gz');
const BUILD2 = fixture('build-archive/build2.tar.gz');
const PORTAGE_KEY = fixture('keys/portage-test-signing-key.pub.asc');
const STAGE4 = 'stage4/stage4-amd64-openrc-web.tar.xz';

let home: string;
let signerKey: string;
let signerFpr: string;
let strangerHome: string;

/** A detached armoured signature made with gpg itself, as a job's signing step makes one. */
function sign(gnupgHome: string, data: Buffer): Buffer {
  const dir = tempDir();
  writeFileSync(join(dir, 'f'), data);
  execFileSync('gpg', ['--homedir', gnupgHome, '--batch', '--yes', '--armor', '--detach-sign', '--output', join(dir, 'f.asc'), join(dir, 'f')]);
  return readFileSync(join(dir, 'f.asc'));
}

function newKey(uid: string): string {
  const h = mkdtempSync(join(tmpdir(), 'gbp-artifact-key-'));
  execFileSync('gpg', ['--homedir', h, '--batch', '--passphrase', '', '--quick-gen-key', uid, 'ed25519', 'sign', 'never'], { stdio: 'ignore' });
  return h;
}

beforeAll(() => {
  home = newKey('Stage Builder <stage@example.org>');
  strangerHome = newKey('Stranger <stranger@example.org>');
  signerKey = join(home, 'signer.asc');
  writeFileSync(signerKey, execFileSync('gpg', ['--homedir', home, '--batch', '--armor', '--export', 'stage@example.org']));
  signerFpr = execFileSync('gpg', ['--homedir', home, '--batch', '--with-colons', '--fingerprint', 'stage@example.org'], { encoding: 'utf8' }).split('\n').find((l) => l.startsWith('fpr'))!.split(':')[9];
});
afterAll(() => {
  for (const h of [home, strangerHome]) execFileSync('gpgconf', ['--homedir', h, '--kill', 'gpg-agent'], { stdio: 'ignore' });
});

/** The fixture archive with files added under aux/. */
async function withAux(base: string, files: Record<string, Buffer | string>, extra: Member[] = []): Promise<string> {
  const members = [...(await archiveMembers(base)), ...Object.entries(files).map(([name, data]) => ({ path: `aux/${name}`, data: Buffer.from(data) })), ...extra];
  const out = join(tempDir(), 'build.tar.gz');
  writeFileSync(out, tgz(members));
  return out;
}

const pull = (store: string, archive: string, id: string, ...flags: string[]) => gbp(['--store', store, '--json', 'pull', archive, '-m', 'web', '-b', id, ...flags]);

describe('artifacts from aux/', () => {
  it('are stored at stable URLs with catalyst .DIGESTS, listed, and the published one is at one URL per machine', async () => {
    const stage4 = randomBytes(5 << 20); // over 4 MiB: hashed in a worker thread
    const store = tempDir();
    const r = await pull(store, await withAux(BUILD1, { [STAGE4]: stage4, [`${STAGE4}.asc`]: sign(home, stage4), 'plugin/notes.txt': 'x' }), '1', '--publish');
    expect(r.code, r.stderr).toBe(0);

    const file = join(store, 'builds/web/1/artifacts', STAGE4);
    expect(readFileSync(file).equals(stage4)).toBe(true);
    // the real tools agree with the .DIGESTS
    const digests = readFileSync(`${file}.DIGESTS`, 'utf8');
    const sha512 = execFileSync('sha512sum', [file], { encoding: 'utf8' }).split(' ')[0];
    const b2 = execFileSync('b2sum', [file], { encoding: 'utf8' }).split(' ')[0];
    expect(digests).toBe(`# BLAKE2B HASH\n${b2}  stage4-amd64-openrc-web.tar.xz\n# SHA512 HASH\n${sha512}  stage4-amd64-openrc-web.tar.xz\n`);

    // no key trusted: the signature is kept and listed, not checked
    const show = await gbp(['--store', store, '--json', 'show', 'web', '1']);
    expect(show.json().artifacts).toEqual([
      { name: 'plugin/notes.txt', size: 1, sha256: expect.any(String), sha512: expect.any(String), blake2b: expect.any(String) },
      expect.objectContaining({ name: STAGE4, size: stage4.length, sha512, blake2b: b2, signature: `${STAGE4}.asc` }),
      expect.objectContaining({ name: `${STAGE4}.asc` }),
    ]);
    expect((await gbp(['--store', store, 'show', 'web', '1'])).stdout).toMatch(/stage4\/stage4-amd64-openrc-web\.tar\.xz\s+5\.0 MiB\s+\w{16}…\s+not checked/);
    const page = readFileSync(join(store, 'builds/web/1/index.html'), 'utf8');
    expect(page).toContain(`<a href="artifacts/${STAGE4}">${STAGE4}</a> · <a href="artifacts/${STAGE4}.DIGESTS">DIGESTS</a>`);

    // published: the same bytes at the machine's URL (a hard link, no second copy), and latest.txt
    const latest = join(store, 'machines/web/artifacts', STAGE4);
    expect(statSync(latest).ino).toBe(statSync(file).ino);
    expect(readFileSync(`${latest}.DIGESTS`, 'utf8')).toBe(digests);
    expect(readFileSync(join(store, 'machines/web/artifacts/latest.txt'), 'utf8')).toContain(`builds/web/1/artifacts/${STAGE4} ${stage4.length}\n`);

    // the next build carries the same stage4: another name for the same bytes, nothing written again
    expect((await pull(store, await withAux(BUILD2, { [STAGE4]: stage4 }), '2')).code).toBe(0);
    expect(statSync(join(store, 'builds/web/2/artifacts', STAGE4)).ino).toBe(statSync(file).ino);

    // a build with another stage4, published, and a rollback: the machine's URL follows
    const other = randomBytes(1000);
    expect((await pull(store, await withAux(BUILD2, { [STAGE4]: other }), '3', '--publish')).code).toBe(0);
    expect(readFileSync(latest).equals(other)).toBe(true);
    expect(existsSync(join(store, 'machines/web/artifacts/plugin/notes.txt'))).toBe(false);
    expect((await gbp(['--store', store, 'publish', 'web', '1'])).code).toBe(0);
    expect(readFileSync(latest).equals(stage4)).toBe(true);
    // a build without artifacts published: nothing at the machine's URLs
    expect((await pull(store, BUILD2, '4', '--publish')).code).toBe(0);
    expect(existsSync(latest)).toBe(false);
    expect(existsSync(join(store, 'machines/web/artifacts/latest.txt'))).toBe(false);

    // fsck re-hashes them; purge takes them with their build
    expect((await gbp(['--store', store, 'fsck'])).code).toBe(0);
    appendFileSync(join(store, 'builds/web/3/artifacts', STAGE4), 'x');
    const damaged = await gbp(['--store', store, 'fsck']);
    expect(damaged.code).toBe(8);
    expect(damaged.stdout).toContain(`builds/web/3/artifacts/${STAGE4}`);
    expect((await gbp(['--store', store, 'purge', '--keep-last', '1'])).code).toBe(0);
    expect(existsSync(join(store, 'builds/web/3'))).toBe(false);
  });

  it('signatures are checked against the trusted keys: good recorded, bad and unknown refused with nothing stored', async () => {
    const store = tempDir();
    for (const k of [PORTAGE_KEY, signerKey]) expect((await gbp(['--store', store, 'keys', 'add', k])).code).toBe(0);
    const stage4 = randomBytes(5000);
    const good = await pull(store, await withAux(BUILD1, { [STAGE4]: stage4, [`${STAGE4}.asc`]: sign(home, stage4) }), '1');
    expect(good.code, good.stderr).toBe(0);
    const show = await gbp(['--store', store, '--json', 'show', 'web', '1']);
    expect(show.json().artifacts.find((a: { name: string }) => a.name === STAGE4).signer).toBe(signerFpr);
    expect(readFileSync(join(store, 'builds/web/1/index.html'), 'utf8')).toContain(`<code title="${signerFpr}">${signerFpr.slice(-16)}</code>`);

    const refused = async (archive: string, pattern: RegExp) => {
      const before = snapshot(store);
      const r = await pull(store, archive, '9');
      expect(r.code, r.stderr).toBe(3);
      expect(r.json().error.subject).toBe(`aux/${STAGE4}`);
      expect(r.json().error.reason).toMatch(pattern);
      expect(snapshot(store)).toEqual(before);
    };
    // the bytes changed after signing
    await refused(await withAux(BUILD1, { [STAGE4]: Buffer.concat([stage4, Buffer.from('x')]), [`${STAGE4}.asc`]: sign(home, stage4) }), /bad signature/);
    // a key the site does not trust, refused by default, published when the policy allows it
    const stranger = await withAux(BUILD1, { [STAGE4]: stage4, [`${STAGE4}.asc`]: sign(strangerHome, stage4) });
    await refused(stranger, /which this site does not trust/);
    expect((await gbp(['--store', store, 'keys', 'policy', '--unknown-key', 'allow'])).code).toBe(0);
    const allowed = await pull(store, stranger, '9');
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.json().warnings.join('\n')).toContain(`aux/${STAGE4}: signed by a key this site does not trust`);
  });

  it('hostile aux/ shapes are refused with nothing stored', async () => {
    const store = tempDir();
    expect((await pull(store, BUILD1, '1')).code).toBe(0);
    const before = snapshot(store);
    const many: Record<string, string> = {};
    for (let i = 0; i < 1001; i++) many[`spam/f${i}`] = '';
    for (const [archive, subject, reason] of [
      [await withAux(BUILD1, {}, [{ path: 'aux/link', type: 'SymbolicLink', linkpath: '../binpkgs/Packages' }]), 'aux/link', /artifacts must be regular files/],
      [await withAux(BUILD1, {}, [{ path: 'aux', data: 'not a directory' }]), 'aux', /must be a directory/],
      [await withAux(BUILD1, many), 'aux/spam/f1000', /more than 1000 files/],
    ] as const) {
      const r = await pull(store, archive, '2');
      expect(r.code, r.stderr).toBe(3);
      expect(r.json().error.subject).toBe(subject);
      expect(r.json().error.reason).toMatch(reason);
      expect(snapshot(store)).toEqual(before);
    }
  });
});

describe('gbp attach', () => {
  it('adds a file to a recorded build, checked, listed and published; the same again is a no-op', async () => {
    const store = tempDir();
    expect((await gbp(['--store', store, 'keys', 'add', PORTAGE_KEY])).code).toBe(0);
    expect((await gbp(['--store', store, 'keys', 'add', signerKey])).code).toBe(0);
    expect((await pull(store, BUILD1, '1', '--publish')).code).toBe(0);
    const dir = tempDir();
    const image = randomBytes(200_000);
    writeFileSync(join(dir, 'web.img'), image);
    writeFileSync(join(dir, 'web.img.asc'), sign(home, image));
    const before = snapshot(store);

    // a signature over other bytes: refused, nothing changed
    writeFileSync(join(dir, 'other.asc'), sign(home, Buffer.from('other')));
    const bad = await gbp(['--store', store, 'attach', 'web', '1', join(dir, 'web.img'), '--signature', join(dir, 'other.asc')]);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain('bad signature');
    expect(snapshot(store)).toEqual(before);
    for (const [args, code] of [
      [['web', '1', join(dir, 'missing.img')], 7],
      [['web', '1', join(dir, 'web.img'), '--name', '../escape.img'], 2],
      [['web', '7', join(dir, 'web.img')], 5],
    ] as const) {
      const r = await gbp(['--store', store, 'attach', ...args]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(code);
    }
    expect(snapshot(store)).toEqual(before);

    const r = await gbp(['--store', store, '--json', 'attach', 'web', '@', join(dir, 'web.img'), '--name', 'images/web.img', '--signature', join(dir, 'web.img.asc')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ id: '1', url: 'http://localhost:8080/builds/web/1/artifacts/images/web.img', attached: [{ name: 'images/web.img', signer: signerFpr }, { name: 'images/web.img.asc' }] });
    expect(readFileSync(join(store, 'builds/web/1/artifacts/images/web.img')).equals(image)).toBe(true);
    expect(readFileSync(join(store, 'machines/web/artifacts/images/web.img')).equals(image)).toBe(true);
    expect(readFileSync(join(store, 'builds/web/1/index.html'), 'utf8')).toContain('<a href="artifacts/images/web.img">images/web.img</a>');
    const shown = (await gbp(['--store', store, '--json', 'show', 'web', '1'])).json().artifacts;
    expect(shown.map((a: { name: string; attached?: number }) => [a.name, typeof a.attached])).toEqual([
      ['images/web.img', 'number'],
      ['images/web.img.asc', 'number'],
    ]);

    const again = await gbp(['--store', store, 'attach', 'web', '1', join(dir, 'web.img'), '--name', 'images/web.img']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already has this artifact');
    writeFileSync(join(dir, 'web2.img'), 'other bytes');
    const taken = await gbp(['--store', store, 'attach', 'web', '1', join(dir, 'web2.img'), '--name', 'images/web.img']);
    expect(taken.code).toBe(4);
    const checked = await gbp(['--store', store, 'fsck']);
    expect(checked.code, checked.stdout + checked.stderr).toBe(0);
  });
});

describe('artifacts in a bucket', () => {
  it('sync carries them (attachments made later too); the machine URL serves them over HTTP', async () => {
    const stage4 = randomBytes(100_000);
    const store = tempDir();
    const siteKey = join(tempDir(), 'site');
    expect((await gbp(['site-key', 'generate', 'test-1', siteKey])).code).toBe(0);
    expect((await gbp(['--site-key', siteKey, '--store', store, 'pull', await withAux(BUILD1, { [STAGE4]: stage4 }), '-m', 'web', '-b', '1', '--publish'])).code).toBe(0);
    const bucket = await newPublicBucket();
    const env = rgwEnv();
    const base = `${env.AWS_ENDPOINT_URL}/${bucket}/m`;
    expect((await gbp(['--base-url', base, 'sync', store, `s3://${bucket}/m`], { env })).code).toBe(0);
    const fetched = await fetch(`${base}/machines/web/artifacts/${STAGE4}`);
    expect(fetched.status).toBe(200);
    expect(fetched.headers.get('content-type')).toBe('application/x-xz');
    expect(fetched.headers.get('cache-control')).toContain('max-age=60');
    expect(Buffer.from(await fetched.arrayBuffer()).equals(stage4)).toBe(true);
    expect((await (await fetch(`${base}/builds/web/1/artifacts/${STAGE4}.DIGESTS`)).text())).toBe(readFileSync(join(store, `builds/web/1/artifacts/${STAGE4}.DIGESTS`), 'utf8'));

    // attached after the sync: the next sync brings it, and the bucket's published copy
    const dir = tempDir();
    writeFileSync(join(dir, 'kernel.config'), 'CONFIG_X=y\n');
    expect((await gbp(['--store', store, 'attach', 'web', '1', join(dir, 'kernel.config')])).code).toBe(0);
    const again = await gbp(['--json', 'sync', store, `s3://${bucket}/m`], { env });
    expect(again.code, again.stderr).toBe(0);
    expect(again.json().states).toEqual([{ machine: 'web', changes: ['1 attached to 1'] }]);
    expect(await (await fetch(`${base}/machines/web/artifacts/kernel.config`)).text()).toBe('CONFIG_X=y\n');
    expect((await gbp(['--store', `s3://${bucket}/m`, 'fsck'], { env })).code).toBe(0);

    // and back from the bucket into a directory
    const back = tempDir();
    expect((await gbp(['sync', '--unverified', `s3://${bucket}/m`, back], { env })).code).toBe(0);
    expect(readFileSync(join(back, 'builds/web/1/artifacts', STAGE4)).equals(stage4)).toBe(true);
    expect(readFileSync(join(back, 'machines/web/artifacts/kernel.config'), 'utf8')).toBe('CONFIG_X=y\n');

    // the archive's artifacts are in the signed record: other bytes in the bucket are refused
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    const { rgwClient } = await import('../helpers/s3.js');
    await rgwClient().send(new PutObjectCommand({ Bucket: bucket, Key: `m/builds/web/1/artifacts/${STAGE4}`, Body: randomBytes(100_000) }));
    const mirror = tempDir();
    const refused = await gbp(['--json', 'sync', `s3://${bucket}/m`, mirror, '--trust-site-key', `${siteKey}.pub`], { env });
    expect(refused.code, refused.stderr).toBe(9);
    expect(refused.json().error.subject).toBe(`builds/web/1/artifacts/${STAGE4}`);
    expect(existsSync(join(mirror, 'builds/web/1/build.json'))).toBe(false);
  });
});
