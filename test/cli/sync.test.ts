/**
 * gbp sync: a local store to a bucket (clients then read the bucket over HTTP), back again for
 * disaster recovery, incrementally, and completed after a SIGKILL.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GBP, gbp, snapshot, tempDir } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';
import { clientFetches } from '../helpers/http-client.js';
import { bucketSnapshot, newPublicBucket, rgwEnv } from '../helpers/s3.js';
import { startS3Proxy } from '../helpers/s3-proxy.js';
import { clientReads } from '../helpers/client.js';

const BUILD1 = fixture('build-archive/build.tar.gz');
const BUILD2 = fixture('build-archive/build2.tar.gz');

async function localStore() {
  const store = tempDir();
  for (const [archive, id, extra] of [
    [BUILD1, '1', ['--tag', 'stable']],
    [BUILD2, '2', []],
  ] as const) {
    const r = await gbp(['--store', store, 'pull', archive, '-m', 'web', '-b', id, '--publish', ...extra]);
    expect(r.code, r.stderr).toBe(0);
  }
  expect((await gbp(['--store', store, 'note', 'web', '1', 'known good'])).code).toBe(0);
  return store;
}

const objects = (snap: Record<string, string>) => Object.keys(snap).filter((k) => /^(blobs|packs|trees)\/.*[^/]$/.test(k)).sort();

describe('gbp sync', () => {
  it('copies a local store to a bucket that clients read, and back again', async () => {
    const store = await localStore();
    const bucket = await newPublicBucket();
    const env = rgwEnv();
    const base = `${env.AWS_ENDPOINT_URL}/${bucket}/mirror`;
    const r = await gbp(['--json', '--base-url', base, 'sync', store, `s3://${bucket}/mirror`], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().builds).toEqual([
      expect.objectContaining({ machine: 'web', id: '1' }),
      expect.objectContaining({ machine: 'web', id: '2' }),
    ]);
    // the bucket's indexes point at the bucket, and everything in them downloads
    const view = await clientFetches(`${base}/machines/web/binpkgs`);
    expect(view.header.URI).toBe(`${base}/blobs`);
    expect(view.entries).toHaveLength(6);
    expect((await clientFetches(`${base}/machines/web/tags/stable/binpkgs`)).entries).toHaveLength(5);
    const s3 = (args: string[]) => gbp(['--store', `s3://${bucket}/mirror`, ...args], { env });
    expect((await s3(['fsck'])).code).toBe(0);
    expect((await s3(['--json', 'list', 'web'])).json()).toMatchObject([
      { id: '2', published: true },
      { id: '1', tags: ['stable'], note: 'known good' },
    ]);

    // a second run sends nothing
    const again = await gbp(['--json', 'sync', store, `s3://${bucket}/mirror`], { env });
    expect(again.code, again.stderr).toBe(0);
    expect(again.json().builds).toEqual([]);
    expect(again.json().traffic.bytesSent).toBe(0);

    // disaster recovery: the bucket back into an empty directory
    const restored = tempDir();
    const back = await gbp(['--base-url', 'http://localhost:8080', 'sync', '--unverified', `s3://${bucket}/mirror`, restored], { env });
    expect(back.code, back.stderr).toBe(0);
    expect(objects(snapshot(restored))).toEqual(objects(snapshot(store)));
    expect(clientReads(restored, 'machines/web/binpkgs', 'http://localhost:8080').entries).toHaveLength(6);
    expect((await gbp(['--store', restored, 'fsck'])).code).toBe(0);
  });

  it('carries a rollback over, and copies only the new build', async () => {
    const store = await localStore();
    const bucket = await newPublicBucket();
    const env = rgwEnv();
    const base = `${env.AWS_ENDPOINT_URL}/${bucket}/m`;
    expect((await gbp(['--base-url', base, 'sync', store, `s3://${bucket}/m`], { env })).code).toBe(0);
    expect((await gbp(['--store', store, 'publish', 'web', '1'])).code).toBe(0);
    const r = await gbp(['--json', 'sync', store, `s3://${bucket}/m`], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().objects).toBe(0); // no package, pack or tree: only state, views and pages
    expect(r.json().traffic.bytesSent).toBeLessThan(100_000);
    expect((await clientFetches(`${base}/machines/web/binpkgs`)).entries).toHaveLength(5);
  });

  it("a build synced an hour after it was made: its own index's Last-Modified is within 5 s of its TIMESTAMP", async () => {
    // The build's index used to carry TIMESTAMP = the build's creation, so wherever it was written
    // later (a sync, or a pull's last step after minutes of uploads) clients re-downloaded it whole.
    const store = await localStore();
    const record = join(store, 'builds/web/1/build.json');
    const build = JSON.parse(readFileSync(record, 'utf8'));
    writeFileSync(record, `${JSON.stringify({ ...build, created: build.created - 3600 }, null, 1)}\n`);
    const bucket = await newPublicBucket();
    const env = rgwEnv();
    const base = `${env.AWS_ENDPOINT_URL}/${bucket}/m`;
    const r = await gbp(['--base-url', base, 'sync', '--unverified', store, `s3://${bucket}/m`], { env });
    expect(r.code, r.stderr).toBe(0);
    const own = await clientFetches(`${base}/builds/web/1/binpkgs`); // asserts Last-Modified ≤ TIMESTAMP + 5 s
    expect(own.header.URI).toBe(`${base}/blobs`);
    expect((await gbp(['--store', `s3://${bucket}/m`, 'fsck'], { env })).code).toBe(0);
  });

  it('a sync killed mid-upload is completed by the next one, which sends only the rest', async () => {
    const store = await localStore();
    const bucket = await newPublicBucket();
    const env = rgwEnv();
    const base = `${env.AWS_ENDPOINT_URL}/${bucket}/m`;
    let puts = 0;
    let kill = () => {};
    const proxy = await startS3Proxy(env.AWS_ENDPOINT_URL, { onRequest: (method) => method === 'PUT' && ++puts === 6 && kill() });
    try {
      const child = spawn(process.execPath, [GBP, '--base-url', base, 'sync', store, `s3://${bucket}/m`], {
        env: { ...process.env, ...env, AWS_ENDPOINT_URL: proxy.url, GBP_S3_MAX_IN_FLIGHT: '1' },
        stdio: 'ignore',
      });
      const closed = new Promise((r) => child.on('close', (_code, signal) => r(signal)));
      kill = () => child.kill('SIGKILL');
      expect(await closed).toBe('SIGKILL');
    } finally {
      await proxy.close();
    }
    const partial = await bucketSnapshot(bucket);
    expect(Object.keys(partial).some((k) => k.startsWith('m/blobs/'))).toBe(true);
    expect(Object.keys(partial).some((k) => k.endsWith('/state.json'))).toBe(false); // nothing recorded yet
    const r = await gbp(['--json', 'sync', store, `s3://${bucket}/m`], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().traffic.requests.put).toBeGreaterThan(0);
    const full = await gbp(['--json', 'sync', store, `s3://${(await newPublicBucket())}/m`], { env });
    expect(r.json().traffic.bytesSent).toBeLessThan(full.json().traffic.bytesSent);
    expect((await clientFetches(`${base}/machines/web/binpkgs`)).entries).toHaveLength(6);
    expect((await gbp(['--store', `s3://${bucket}/m`, 'fsck'], { env })).code).toBe(0);
  });

  it("a next build's package pages: read from the source when both hold the same builds, from the bucket when it has builds of its own", async () => {
    const env = rgwEnv();
    const entriesOf = async (bucket: string, prefix: string) => {
      const raw = await (await fetch(`${env.AWS_ENDPOINT_URL}/${bucket}/${prefix}/machines/web/packages/dev-libs/libfoo.html`)).text();
      const json = /<!-- gbp:entries (.*?) -->/.exec(raw)![1];
      return (JSON.parse(json) as { entries: { build: string; change: string }[] }).entries.map((e) => `${e.build} ${e.change}`);
    };
    for (const ownBuild of [false, true]) {
      const store = tempDir();
      expect((await gbp(['--store', store, 'pull', BUILD1, '-m', 'web', '-b', '1'])).code).toBe(0);
      const bucket = await newPublicBucket();
      expect((await gbp(['sync', store, `s3://${bucket}/m`], { env })).code).toBe(0);
      // a build only the bucket has (pulled straight into it): its entry must survive the next sync
      if (ownBuild) expect((await gbp(['--store', `s3://${bucket}/m`, 'pull', BUILD2, '-m', 'web', '-b', '5'], { env })).code).toBe(0);
      expect((await gbp(['--store', store, 'pull', BUILD2, '-m', 'web', '-b', '2'])).code).toBe(0);
      const pageReads: string[] = [];
      const proxy = await startS3Proxy(env.AWS_ENDPOINT_URL, { onRequest: (method, path) => method === 'GET' && path.includes('/packages/') && pageReads.push(path) });
      try {
        const r = await gbp(['sync', store, `s3://${bucket}/m`], { env: { ...env, AWS_ENDPOINT_URL: proxy.url } });
        expect(r.code, r.stderr).toBe(0);
      } finally {
        await proxy.close();
      }
      if (ownBuild) {
        expect(await entriesOf(bucket, 'm')).toEqual(['1 added', '5 rebuilt', '2 rebuilt']);
        expect(pageReads.length).toBeGreaterThan(0);
      } else {
        expect(await entriesOf(bucket, 'm')).toEqual(['1 added', '2 rebuilt']);
        expect(pageReads).toEqual([]);
      }
    }
  });

  it("a next build into a bucket: each package looked for by one HEAD, its meta.json after its own blob is stored, and the machine's state written once", async () => {
    const env = rgwEnv();
    const store = tempDir();
    expect((await gbp(['--store', store, 'pull', BUILD1, '-m', 'web', '-b', '1', '--publish'])).code).toBe(0);
    const bucket = await newPublicBucket();
    expect((await gbp(['sync', store, `s3://${bucket}/m`], { env })).code).toBe(0);
    expect((await gbp(['--store', store, 'pull', BUILD2, '-m', 'web', '-b', '2', '--publish'])).code).toBe(0);
    const events: string[] = [];
    const blobKey = (path: string) => /\/blobs\/[0-9a-f]{2}\/([0-9a-f]{64})\/([^?]+)/.exec(path);
    const probes: string[] = [];
    const proxy = await startS3Proxy(env.AWS_ENDPOINT_URL, {
      onStart: (method, path) => {
        if (method === 'PUT') events.push(`start ${path.split('?')[0]}`);
        const listed = /[?&]prefix=([^&]*)/.exec(path)?.[1];
        if (method === 'GET' && listed && blobKey(`/${decodeURIComponent(listed)}x`)) probes.push(`LIST ${decodeURIComponent(listed)}`);
        if (method === 'HEAD' && blobKey(path)?.[2] === 'meta.json') probes.push(`HEAD ${blobKey(path)![1]}`);
      },
      onRequest: (method, path) => method === 'PUT' && events.push(`done ${path.split('?')[0]}`),
    });
    try {
      const r = await gbp(['--json', 'sync', store, `s3://${bucket}/m`], { env: { ...env, AWS_ENDPOINT_URL: proxy.url } });
      expect(r.code, r.stderr).toBe(0);
      expect(r.json().builds.map((b: { id: string }) => b.id)).toEqual(['2']);
    } finally {
      await proxy.close();
    }
    const metas = events.filter((e) => e.startsWith('start') && blobKey(e)?.[2] === 'meta.json');
    expect(metas.length).toBeGreaterThan(0);
    // each new package is looked for with a HEAD of its meta.json: no listing of its directory,
    // which costs the server more and is billed like a PUT on AWS
    expect(probes.filter((p) => p.startsWith('LIST'))).toEqual([]);
    expect(probes.length).toBeGreaterThanOrEqual(metas.length);
    for (const meta of metas) {
      const sha = blobKey(meta)![1];
      const blobDone = events.findIndex((e) => e.startsWith('done') && blobKey(e)?.[1] === sha && !/meta\.json|files/.test(blobKey(e)![2]));
      expect(blobDone, `${meta} has no blob stored before it`).toBeGreaterThanOrEqual(0);
      expect(blobDone).toBeLessThan(events.indexOf(meta));
    }
    // the new build recorded and published in one compare-and-swap of state.json
    expect(events.filter((e) => e.startsWith('start') && e.endsWith('/machines/web/state.json'))).toHaveLength(1);
    const state = await (await fetch(`${env.AWS_ENDPOINT_URL}/${bucket}/m/machines/web/state.json`)).json();
    expect(state.published).toBe('2');
    expect(state.builds.map((b: { id: string }) => b.id)).toEqual(['1', '2']);
  });

  it('refuses a source that is not a store (exit 5), writing nothing', async () => {
    const bucket = await newPublicBucket();
    const env = rgwEnv();
    const r = await gbp(['sync', tempDir(), `s3://${bucket}/m`], { env });
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/not a gbp store/);
    expect(await bucketSnapshot(bucket)).toEqual({});
  });

  it('a backup between two directories shares no file with its source, and both stay sound', async () => {
    // incident: sync hard-linked packs, so the two stores were one, and writes to one landed in both
    const store = await localStore();
    const backup = tempDir();
    const r = await gbp(['sync', store, backup]);
    expect(r.code, r.stderr).toBe(0);
    const inodes = (root: string) =>
      new Set(
        (readdirSync(root, { recursive: true }) as string[])
          .map((p) => statSync(join(root, p)))
          .filter((st) => st.isFile())
          .map((st) => `${st.dev}:${st.ino}`),
      );
    const shared = [...inodes(backup)].filter((i) => inodes(store).has(i));
    expect(shared).toEqual([]);
    // a later build into the backup, then damage repaired in it, leave the source untouched
    const before = snapshot(store);
    expect((await gbp(['--store', backup, 'pull', BUILD1, '-m', 'mail', '-b', '1', '--publish'])).code).toBe(0);
    const pack = (readdirSync(join(backup, 'packs'), { recursive: true }) as string[]).find((p) => p.endsWith('.pack'))!;
    writeFileSync(join(backup, 'packs', pack), 'damaged');
    expect((await gbp(['--store', backup, 'fsck'])).code).toBe(8);
    expect(snapshot(store)).toEqual(before);
    expect((await gbp(['--store', store, 'fsck'])).code).toBe(0);
  });
});
