/**
 * Signed site records: the publisher signs each build's record with the site key, and a mirror
 * (gbp sync) or an exporter (gbp export-rsync) reading a bucket refuses (exit 9, nothing of the
 * build copied or exported) a record the trusted key did not sign, a record changed after signing,
 * a signature moved from another build, and objects whose bytes are not what the record says:
 * what someone holding the bucket's credentials, but not the site key, could write.
 */
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { gbp, snapshot, tempDir } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';
import { newBucket, rgwClient, rgwEnv } from '../helpers/s3.js';
import { listTree } from '../helpers/tree-compare.js';

const BUILD1 = fixture('build-archive/build.tar.gz');
const BUILD2 = fixture('build-archive/build2.tar.gz');

let keyA: string;
let keyB: string;
let publisher: string;

beforeAll(async () => {
  const keys = tempDir();
  keyA = join(keys, 'site-a');
  keyB = join(keys, 'site-b');
  const a = await gbp(['--json', 'site-key', 'generate', 'binhost.example.org-1', keyA]);
  expect(a.code, a.stderr).toBe(0);
  expect(a.json()).toMatchObject({ name: 'binhost.example.org-1', id: expect.stringMatching(/^[0-9a-f]{16}$/) });
  expect((await gbp(['site-key', 'generate', 'other.example.org-1', keyB])).code).toBe(0);
  publisher = tempDir();
  for (const [archive, id] of [
    [BUILD1, '1'],
    [BUILD2, '2'],
  ]) {
    const r = await gbp(['--store', publisher, 'pull', archive, '-m', 'web', '-b', id, '--publish'], { env: { GBP_SITE_KEY: keyA } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('record    signed with site key binhost.example.org-1');
  }
});

/** The publisher's store in a bucket of its own, as a publisher's sync (or direct pulls) leave it. */
async function signedBucket(): Promise<{ spec: string; bucket: string; prefix: string }> {
  const bucket = await newBucket();
  const spec = `s3://${bucket}/site`;
  const r = await gbp(['--base-url', 'https://binhost.example.org', 'sync', publisher, spec], { env: rgwEnv() });
  expect(r.code, r.stderr).toBe(0);
  return { spec, bucket, prefix: 'site/' };
}

async function getObject(bucket: string, key: string): Promise<Buffer> {
  const r = await rgwClient().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await r.Body!.transformToByteArray());
}
const putObject = (bucket: string, key: string, body: Buffer | string) => rgwClient().send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));

const mirror = (spec: string, dest: string, ...flags: string[]) => gbp(['--json', '--base-url', 'http://mirror.example.org', 'sync', spec, dest, ...flags], { env: rgwEnv() });
const exportFrom = (spec: string, dest: string, ...flags: string[]) => gbp(['--store', spec, '--json', 'export-rsync', '--dest', dest, ...flags], { env: rgwEnv() });
const recorded = (dir: string) => Object.keys(snapshot(dir)).filter((k) => /^builds\/.*build\.json$/.test(k)).sort();
const contentObjects = (dir: string) => Object.keys(snapshot(dir)).filter((k) => /^(blobs|packs|trees)\/.*[^/]$/.test(k));

describe('signed site records', () => {
  it('a mirror of a signed bucket verifies every record and object, and its copy verifies again', async () => {
    const { spec } = await signedBucket();
    const dest = tempDir();
    const r = await mirror(spec, dest, '--trust-site-key', `${keyA}.pub`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ verified: true, builds: [{ id: '1' }, { id: '2' }] });
    expect(recorded(dest)).toEqual(['builds/web/1/build.json', 'builds/web/2/build.json']);
    // the signatures came along and hold over the copied records' bytes
    const v = await gbp(['--store', dest, '--json', 'site-key', 'verify', '--trust-site-key', `${keyA}.pub`]);
    expect(v.code, v.stdout).toBe(0);
    expect(v.json().map((x: { status: string }) => x.status)).toEqual(['good', 'good']);
    expect((await gbp(['--store', dest, 'fsck'])).code).toBe(0);

    // the key given as text, in the environment, works the same; an export of the bucket too
    const pub = readFileSync(`${keyA}.pub`, 'utf8').trim();
    const out = tempDir();
    const e = await gbp(['--store', spec, '--json', 'export-rsync', '--dest', out], { env: { ...rgwEnv(), GBP_TRUSTED_SITE_KEYS: pub } });
    expect(e.code, e.stderr).toBe(0);
    const local = tempDir();
    expect((await gbp(['--store', publisher, '--json', 'export-rsync', '--dest', local])).code).toBe(0);
    expect(listTree(join(out, 'repos'), {})).toEqual(listTree(join(local, 'repos'), {}));
  });

  it("a bucket's records are not read unchecked unless asked", async () => {
    const { spec } = await signedBucket();
    const dest = tempDir();
    const r = await mirror(spec, dest);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--trust-site-key');
    expect(recorded(dest)).toEqual([]);
    const e = await exportFrom(spec, tempDir());
    expect(e.code).toBe(2);
    expect(e.stderr).toContain('--trust-site-key');
    const both = await mirror(spec, dest, '--unverified', '--trust-site-key', `${keyA}.pub`);
    expect(both.code).toBe(2);
    const unchecked = await mirror(spec, dest, '--unverified');
    expect(unchecked.code, unchecked.stderr).toBe(0);
    expect(unchecked.json().verified).toBe(false);
  });

  it('a record changed after signing, or signed by another key, is refused and nothing of it copied', async () => {
    const { spec, bucket, prefix } = await signedBucket();
    const key = `${prefix}builds/web/1/build.json`;
    const record = JSON.parse((await getObject(bucket, key)).toString());
    record.binpkgs.packages[0].description = 'planted';
    await putObject(bucket, key, `${JSON.stringify(record, null, 1)}\n`);
    const dest = tempDir();
    const r = await mirror(spec, dest, '--trust-site-key', `${keyA}.pub`);
    expect(r.code).toBe(9);
    expect(r.json().error).toMatchObject({ code: 'untrusted', subject: 'builds/web/1/build.json' });
    expect(r.json().error.reason).toContain('changed after it was signed');
    expect(recorded(dest)).toEqual([]);
    expect(contentObjects(dest)).toEqual([]);

    // the other site's key does not vouch for this site's records
    const other = await mirror((await signedBucket()).spec, tempDir(), '--trust-site-key', `${keyB}.pub`);
    expect(other.code).toBe(9);
    expect(other.json().error.reason).toContain('not signed by a trusted site key (other.example.org-1');
  });

  it("a signature moved from another build is refused", async () => {
    const { spec, bucket, prefix } = await signedBucket();
    const keyId = signatureIdOf(publisher);
    const sig = await getObject(bucket, `${prefix}builds/web/1/build.json.${keyId}.sig`);
    await putObject(bucket, `${prefix}builds/web/2/build.json.${keyId}.sig`, sig);
    const dest = tempDir();
    const r = await mirror(spec, dest, '--trust-site-key', `${keyA}.pub`);
    expect(r.code).toBe(9);
    expect(r.json().error.subject).toBe('builds/web/2/build.json');
    expect(r.json().error.reason).toContain('the signature is for builds/web/1/build.json');
    expect(recorded(dest)).toEqual(['builds/web/1/build.json']);
  });

  it('package, pack and tree bytes that are not what the signed record says are refused', async () => {
    const build = JSON.parse(readFileSync(join(publisher, 'builds/web/1/build.json'), 'utf8'));
    const blobKey = `blobs/${build.binpkgs.packages[0].stanza.PATH}`;
    const treeRef = Object.values(build.trees as Record<string, { manifest: string }>)[0].manifest;
    const treeKey = `trees/${treeRef.slice(0, 2)}/${treeRef}.json.gz`;
    const firstPack = (() => {
      const lines = gunzipSync(readFileSync(join(publisher, treeKey))).toString().split('\n');
      const packs = JSON.parse(lines[0]).packs as string[];
      return `packs/${packs[0].slice(0, 2)}/${packs[0]}.pack`;
    })();

    for (const [what, key, change] of [
      ['a package', blobKey, (b: Buffer) => Buffer.concat([b, Buffer.from('x')])],
      ['a pack', firstPack, (b: Buffer) => (b[0] ^= 1, b)],
      ['a tree manifest', treeKey, setuidFirstEntry],
    ] as const) {
      const { spec, bucket, prefix } = await signedBucket();
      await putObject(bucket, prefix + key, change(await getObject(bucket, prefix + key)));
      const dest = tempDir();
      const r = await mirror(spec, dest, '--trust-site-key', `${keyA}.pub`);
      expect(r.code, what).toBe(9);
      expect(r.json().error.subject, what).toBe(key);
      expect(recorded(dest), what).toEqual([]);
    }

    // an exporter checks the published build's trees the same way
    const published = JSON.parse(readFileSync(join(publisher, 'builds/web/2/build.json'), 'utf8'));
    const repo = (published.trees as Record<string, { manifest: string }>)['repos/test_repo'].manifest;
    const { spec, bucket, prefix } = await signedBucket();
    const key = `${prefix}trees/${repo.slice(0, 2)}/${repo}.json.gz`;
    await putObject(bucket, key, setuidFirstEntry(await getObject(bucket, key)));
    const out = tempDir();
    const e = await exportFrom(spec, out, '--trust-site-key', `${keyA}.pub`);
    expect(e.code, e.stderr).toBe(9);
    expect(e.json().error.reason).toContain('does not match its SHA-256');
    expect(existsSync(join(out, 'repos'))).toBe(false);
  });

  it('an exporter refuses a published record changed after signing, and keeps serving what it had', async () => {
    const { spec, bucket, prefix } = await signedBucket();
    const out = tempDir();
    expect((await exportFrom(spec, out, '--trust-site-key', `${keyA}.pub`)).code).toBe(0);
    const before = listTree(join(out, 'repos'), { mtimes: true });
    const key = `${prefix}builds/web/2/build.json`;
    await putObject(bucket, key, (await getObject(bucket, key)).toString().replace('"warnings": [', '"warnings": [\n  "planted",'));
    const e = await exportFrom(spec, out, '--trust-site-key', `${keyA}.pub`);
    expect(e.code).toBe(9);
    expect(e.json().error.subject).toBe('builds/web/2/build.json');
    expect(listTree(join(out, 'repos'), { mtimes: true })).toEqual(before);
  });

  it('builds stored before the site key are signed afterwards; keys rotate', async () => {
    const store = tempDir();
    expect((await gbp(['--store', store, 'pull', BUILD1, '-m', 'web', '-b', '1'])).code).toBe(0);
    const verify = (...keys: string[]) => gbp(['--store', store, '--json', 'site-key', 'verify', ...keys.flatMap((k) => ['--trust-site-key', `${k}.pub`])]);
    const unsigned = await verify(keyA);
    expect(unsigned.code).toBe(9);
    expect(unsigned.json()).toEqual([{ machine: 'web', id: '1', status: 'unsigned' }]);
    // a re-pull with the key says the stored record is not signed, and how to sign it
    const again = await gbp(['--store', store, 'pull', BUILD1, '-m', 'web', '-b', '1'], { env: { GBP_SITE_KEY: keyA } });
    expect(again.code).toBe(0);
    expect(again.stderr).toContain("'gbp site-key sign web 1'");

    const sign = await gbp(['--store', store, '--site-key', keyA, 'site-key', 'sign']);
    expect(sign.code, sign.stderr).toBe(0);
    expect(sign.stdout).toContain('1 builds signed');
    expect((await verify(keyA)).code).toBe(0);
    // rotation: the new key signs beside the old one; readers trusting either, or both, accept
    expect((await gbp(['--store', store, '--site-key', keyB, 'site-key', 'sign', 'web'])).code).toBe(0);
    expect((await verify(keyB)).code).toBe(0);
    expect((await verify(keyA, keyB)).code).toBe(0);
    const twice = await gbp(['--store', store, '--site-key', keyB, 'site-key', 'sign']);
    expect(twice.stdout).toContain('0 builds signed');
  });

  it('key files that are not site keys are refused with a clear error', async () => {
    const bad = join(tempDir(), 'bad');
    writeFileSync(bad, 'not a key\n');
    const store = tempDir();
    const pubAsSecret = await gbp(['--store', store, '--site-key', `${keyA}.pub`, 'pull', BUILD1, '-m', 'web', '-b', '1']);
    expect(pubAsSecret.code).toBe(2);
    expect(pubAsSecret.stderr).toContain('was this the .pub file?');
    expect(existsSync(join(store, 'builds'))).toBe(false);
    const garbage = await gbp(['--store', publisher, 'site-key', 'verify', '--trust-site-key', bad]);
    expect(garbage.code).toBe(2);
    expect(garbage.stderr).toContain('is not a site key');
    const missing = await gbp(['--store', publisher, 'site-key', 'verify', '--trust-site-key', join(tempDir(), 'none.pub')]);
    expect(missing.code).toBe(7);
    const overwrite = await gbp(['site-key', 'generate', 'again-1', keyA]);
    expect(overwrite.code).toBe(2);
    expect(overwrite.stderr).toContain('never overwritten');
  });
});

/** A tree manifest whose first entry has become setuid: what an attacker would plant. */
function setuidFirstEntry(gz: Buffer): Buffer {
  const lines = gunzipSync(gz).toString().split('\n');
  const entry = JSON.parse(lines[1]);
  entry[2] = 0o4755;
  lines[1] = JSON.stringify(entry);
  return gzipSync(lines.join('\n'));
}

/** The key id in the publisher's signature objects' names. */
function signatureIdOf(store: string): string {
  const name = Object.keys(snapshot(store)).find((k) => /^builds\/web\/1\/build\.json\.[0-9a-f]{16}\.sig$/.test(k))!;
  return name.split('.').at(-2)!;
}
