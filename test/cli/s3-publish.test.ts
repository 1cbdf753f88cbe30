/**
 * The CLI on a bucket of a real S3 server (Ceph RGW), with clients reading it over plain HTTP as
 * they would through a CDN: the whole publishing story, refusals, parallel jobs, a SIGKILL in the
 * middle of an upload, throttling, and requests proportional to what changed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { GBP, gbp, tempDir } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';
import { clientFetches } from '../helpers/http-client.js';
import { bucketSnapshot, newPublicBucket, rgwEnv } from '../helpers/s3.js';
import { startS3Proxy } from '../helpers/s3-proxy.js';

const BUILD1 = fixture('build-archive/build.tar.gz');
const BUILD2 = fixture('build-archive/build2.tar.gz');
const GENERATE = resolve(__dirname, '../../dist/scripts/fixtures/generate.js');

function onBucket(bucket: string, endpoint?: string) {
  const env = rgwEnv();
  const base = `${env.AWS_ENDPOINT_URL}/${bucket}/bh`;
  const run = (args: string[], extraEnv: Record<string, string> = {}) =>
    gbp(['--store', `s3://${bucket}/bh`, '--base-url', base, ...args], { env: { ...env, ...(endpoint ? { AWS_ENDPOINT_URL: endpoint } : {}), ...extraEnv } });
  return { base, run, env };
}

let generated: { m1b1: string; m1b2: string; m2b1: string };
beforeAll(() => {
  const out = tempDir();
  const gen = spawnSync(process.execPath, [GENERATE, '--size', 'small', '--out', out, '--machines', '2', '--builds', '2', '--seed', '5'], { encoding: 'utf8' });
  expect(gen.status, gen.stderr).toBe(0);
  generated = {
    m1b1: join(out, 'machine1/build-1.tar.gz'),
    m1b2: join(out, 'machine1/build-2.tar.gz'),
    m2b1: join(out, 'machine2/build-1.tar.gz'),
  };
});

describe('publishing to a bucket', () => {
  it('publishes, tags and rolls back; clients read every package over HTTP', async () => {
    const bucket = await newPublicBucket();
    const { base, run } = onBucket(bucket);
    let r = await run(['pull', BUILD1, '-m', 'web', '-b', '1', '--publish']);
    expect(r.code, r.stderr).toBe(0);
    expect((await clientFetches(`${base}/machines/web/binpkgs`)).entries).toHaveLength(5);
    r = await run(['pull', BUILD2, '-m', 'web', '-b', '2', '--publish', '--tag', 'stable']);
    expect(r.code, r.stderr).toBe(0);
    expect((await clientFetches(`${base}/machines/web/binpkgs`)).entries).toHaveLength(6);
    expect((await clientFetches(`${base}/machines/web/tags/stable/binpkgs`)).entries).toHaveLength(6);
    r = await run(['publish', 'web', '1']);
    expect(r.code, r.stderr).toBe(0);
    const rolledBack = await clientFetches(`${base}/machines/web/binpkgs`);
    expect(rolledBack.entries).toHaveLength(5);

    // caching: packages forever, the machine's index briefly
    const pkg = await fetch(`${rolledBack.header.URI.replace(/\/$/, '')}/${rolledBack.entries[0].PATH}`, { method: 'HEAD' });
    expect(pkg.headers.get('cache-control')).toMatch(/immutable/);
    const idx = await fetch(`${base}/machines/web/binpkgs/Packages.gz`, { method: 'HEAD' });
    expect(idx.headers.get('cache-control')).toMatch(/max-age=60/);
    expect(idx.headers.get('content-type')).toBe('application/gzip');
    const conf = await fetch(`${base}/machines/web/binrepos.conf`);
    expect(await conf.text()).toContain(`sync-uri = ${base}/machines/web/binpkgs`);

    const list = await run(['--json', 'list', 'web']);
    expect(list.json().map((b: { id: string; published: boolean }) => [b.id, b.published])).toEqual([
      ['2', false],
      ['1', true],
    ]);
    expect((await run(['fsck'])).code).toBe(0);
    expect((await run(['--json', 'gc', '--dry-run'])).json().garbage).toEqual([]);
  });

  it('refuses a bad archive with exit 3 and leaves the bucket untouched', async () => {
    const bucket = await newPublicBucket();
    const { run } = onBucket(bucket);
    expect((await run(['pull', BUILD1, '-m', 'web', '-b', '1', '--publish'])).code).toBe(0);
    const before = await bucketSnapshot(bucket);
    const bad = join(tempDir(), 'truncated.tar.gz');
    const whole = readFileSync(BUILD2);
    writeFileSync(bad, whole.subarray(0, Math.floor(whole.length * 0.6)));
    const r = await run(['pull', bad, '-m', 'web', '-b', '2', '--publish']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/truncated|unexpected end/i);
    expect(await bucketSnapshot(bucket)).toEqual(before);
  });

  it('a store URL with a bad bucket name is a usage error (exit 2)', async () => {
    const r = await gbp(['--store', 's3://Bad_Bucket/x', 'list']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bucket/);
  });
});

describe('parallel jobs on one bucket', () => {
  for (const mode of ['conditional writes', 'lease lock (no conditional writes)']) {
    it(`four builds of one machine at once, ${mode}: all recorded, exactly one published, its index whole`, async () => {
      const bucket = await newPublicBucket();
      const { base, run } = onBucket(bucket);
      const extra: Record<string, string> = mode.startsWith('lease') ? { GBP_S3_CONDITIONAL: 'lease' } : {};
      const jobs = await Promise.all([BUILD1, BUILD2, BUILD1, BUILD2].map((a, i) => run(['pull', a, '-m', 'web', '-b', String(i + 1), '--publish'], extra)));
      for (const j of jobs) expect(j.code, j.stderr).toBe(0);
      const list = (await run(['--json', 'list', 'web'])).json() as { id: string; published: boolean }[];
      expect(list.map((b) => b.id).sort()).toEqual(['1', '2', '3', '4']);
      const published = list.filter((b) => b.published);
      expect(published).toHaveLength(1);
      const view = await clientFetches(`${base}/machines/web/binpkgs`);
      const own = await clientFetches(`${base}/builds/web/${published[0].id}/binpkgs`);
      expect(view.entries).toEqual(own.entries);
    });
  }

  it('two machines at once never block each other', async () => {
    const bucket = await newPublicBucket();
    const { base, run } = onBucket(bucket);
    const [a, b] = await Promise.all([run(['pull', BUILD1, '-m', 'web', '-b', '1', '--publish']), run(['pull', BUILD2, '-m', 'mail', '-b', '1', '--publish'])]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    await clientFetches(`${base}/machines/web/binpkgs`);
    await clientFetches(`${base}/machines/mail/binpkgs`);
  });
});

describe('cost and failure on a bucket', () => {
  it('the next build costs requests for what changed, not for what it holds', async () => {
    const bucket = await newPublicBucket();
    const { run } = onBucket(bucket);
    const first = await run(['--json', 'pull', generated.m1b1, '-m', 'm1', '-b', '1', '--publish']);
    expect(first.code, first.stderr).toBe(0);
    const next = await run(['--json', 'pull', generated.m1b2, '-m', 'm1', '-b', '2', '--publish']);
    expect(next.code, next.stderr).toBe(0);
    const total = (t: { requests: Record<string, number> }) => Object.values(t.requests).reduce((a, b) => a + b, 0);
    const f = first.json();
    const n = next.json();
    // the build holds 40 packages and 1,312 repository files; the next one changes a few of them
    expect(n.packages.total).toBe(40);
    expect(n.packages.new).toBeLessThanOrEqual(3);
    expect(n.trees.newFiles).toBeLessThan(40);
    // one existence check per new pack and package (what a killed pull may have sent), none per old one
    expect(n.traffic.requests.head).toBeLessThanOrEqual(n.packages.new + 2);
    // about 80 fixed (state, the parent's manifests, the views and pages it compares and
    // rewrites), a few per change (a new package's blob, record and file list; the parent's copy
    // of each changed /etc/portage file, for the page's diff; the build's facts.v1.json); never one
    // per package or repository file
    console.log(`next build's requests: ${JSON.stringify(n.traffic.requests)}`);
    expect(total(n.traffic)).toBeLessThan(86 + 5 * (n.packages.new + 1));
    // no unchanged package is sent again: new packages and files, plus manifests and indexes
    expect(n.traffic.bytesSent).toBeLessThan(n.packages.newBytes + n.trees.newBytes + 400_000);
    expect(n.traffic.bytesSent).toBeLessThan(f.traffic.bytesSent / 8);
    // and the first one did not pay a request per repository file either
    expect(total(f.traffic)).toBeLessThan(n.trees.files / 4);
    // nor read its packages back to list their files: it lists what it staged
    console.log(`first build's requests: ${JSON.stringify(f.traffic.requests)}`);
    expect(f.fileLists.listed).toBe(f.packages.new);
    expect(f.traffic.requests.get).toBeLessThan(f.packages.new);
  });

  it('a build that changed nothing costs the same requests for 40 packages as for 5, and sends no content', async () => {
    const noChange = async (archive: string) => {
      const { run } = onBucket(await newPublicBucket());
      expect((await run(['pull', archive, '-m', 'm', '-b', '1', '--publish'])).code).toBe(0);
      const again = await run(['--json', 'pull', archive, '-m', 'm', '-b', '2', '--publish']);
      expect(again.code, again.stderr).toBe(0);
      const r = again.json();
      expect(r.packages.new).toBe(0);
      expect(r.trees.newFiles).toBe(0);
      return r as { packages: { total: number }; traffic: { requests: Record<string, number>; bytesSent: number } };
    };
    const big = await noChange(generated.m1b1);
    const small = await noChange(BUILD1);
    expect(big.packages.total).toBeGreaterThan(5 * small.packages.total);
    console.log(`no-change build's requests: ${JSON.stringify(big.traffic.requests)}`);
    // the records, views and pages of one build: a fixed count, whatever the build holds (the
    // build page reads the few /etc/portage files it shows, which the two archives differ in)
    const { get: bigGets, ...bigRest } = big.traffic.requests;
    const { get: smallGets, ...smallRest } = small.traffic.requests;
    expect(bigRest).toEqual(smallRest);
    expect(Math.abs(bigGets - smallGets)).toBeLessThanOrEqual(3);
    const total = Object.values(big.traffic.requests).reduce((a, b) => a + b, 0);
    // 66 before the feeds and the static API (a GET and a PUT each: machine and site feed,
    // machines.json, the machine's builds.json) and the published artifacts' list (a GET);
    // 77 with the build's own API document (facts.v1.json, a PUT, written once); 71 since the
    // machine page, its feed and builds.json are compared by the hashes pages.json keeps, and
    // pages.json with the copy read at the start, instead of each being read back; 65 since
    // --publish changes the state in the write that records the build, and the views and pages
    // take that state instead of reading it back
    expect(total).toBeLessThanOrEqual(65);
    expect(big.traffic.requests.list).toBeLessThanOrEqual(5);
    expect(big.traffic.requests.multipart).toBe(0);
    // no content goes up again: only the build's records, its index and the pages
    expect(big.traffic.bytesSent).toBeLessThan(300_000);
  });

  it('SIGKILL in the middle of an upload: clients never see a gap, the re-run sends only the rest', async () => {
    const bucket = await newPublicBucket();
    const { base, run, env } = onBucket(bucket);
    expect((await run(['pull', generated.m1b1, '-m', 'm1', '-b', '1', '--publish'])).code).toBe(0);
    let blobPuts = 0;
    let kill = () => {};
    const proxy = await startS3Proxy(env.AWS_ENDPOINT_URL, {
      onRequest: (method, path) => {
        if (method === 'PUT' && path.includes('/blobs/') && ++blobPuts === 15) kill();
      },
    });
    try {
      const child = spawn(process.execPath, [GBP, '--store', `s3://${bucket}/bh`, '--base-url', base, 'pull', generated.m2b1, '-m', 'm2', '-b', '1', '--publish'], {
        env: { ...process.env, ...env, AWS_ENDPOINT_URL: proxy.url, GBP_S3_MAX_IN_FLIGHT: '2' },
        stdio: 'ignore',
      });
      const closed = new Promise<number | null>((r) => child.on('close', (code, signal) => r(signal ? null : code)));
      kill = () => child.kill('SIGKILL');
      expect(await closed).toBeNull(); // killed, not finished
    } finally {
      await proxy.close();
    }
    expect(blobPuts).toBeGreaterThanOrEqual(15);
    // nothing of m2 is visible yet, and m1 is intact
    expect((await fetch(`${base}/machines/m2/binpkgs/Packages.gz`)).status).toBe(404);
    await clientFetches(`${base}/machines/m1/binpkgs`);

    const again = await run(['--json', 'pull', generated.m2b1, '-m', 'm2', '-b', '1', '--publish']);
    expect(again.code, again.stderr).toBe(0);
    const r = again.json();
    // the packages uploaded before the kill are not sent again
    expect(r.traffic.bytesSent).toBeLessThan(r.packages.newBytes - 10 * 20_000);
    await clientFetches(`${base}/machines/m2/binpkgs`);
    expect((await run(['fsck'])).code).toBe(0);
  });

  it('a throttling server (503 SlowDown) is retried with back-off, and the publish completes', async () => {
    const bucket = await newPublicBucket();
    const { base, env } = onBucket(bucket);
    const proxy = await startS3Proxy(env.AWS_ENDPOINT_URL, { throttle: (req, n) => req.method === 'PUT' && n % 4 === 0 });
    try {
      const r = await gbp(['--store', `s3://${bucket}/bh`, '--base-url', base, 'pull', BUILD1, '-m', 'web', '-b', '1', '--publish'], {
        env: { ...env, AWS_ENDPOINT_URL: proxy.url },
      });
      expect(r.code, r.stderr).toBe(0);
      expect(proxy.seen.throttled).toBeGreaterThan(0);
    } finally {
      await proxy.close();
    }
    await clientFetches(`${base}/machines/web/binpkgs`);
  });

  it('an index whose upload ends past the clients\' 5 s of slack is written again at a fresh TIMESTAMP', async () => {
    const bucket = await newPublicBucket();
    const { base, env } = onBucket(bucket);
    const view = '/machines/web/binpkgs/Packages.gz';
    let viewPuts = 0;
    const proxy = await startS3Proxy(env.AWS_ENDPOINT_URL, {
      // the view's first upload reaches the server 6.5 s late, as over a congested link
      hold: (method, path) => (method === 'PUT' && path.split('?')[0].endsWith(view) && ++viewPuts === 1 ? 6_500 : 0),
    });
    try {
      const r = await gbp(['--store', `s3://${bucket}/bh`, '--base-url', base, 'pull', BUILD1, '-m', 'web', '-b', '1', '--publish'], {
        env: { ...env, AWS_ENDPOINT_URL: proxy.url },
      });
      expect(r.code, r.stderr).toBe(0);
    } finally {
      await proxy.close();
    }
    await clientFetches(`${base}/machines/web/binpkgs`); // asserts Last-Modified ≤ TIMESTAMP + 5 s
    await clientFetches(`${base}/builds/web/1/binpkgs`);
    expect(viewPuts, 'the late view written again').toBe(2);
  });
});

describe('maintenance on a bucket', () => {
  it('export-rsync reads trees from the bucket exactly as from a directory; purge and gc clean it', async () => {
    const bucket = await newPublicBucket();
    const { run } = onBucket(bucket);
    const local = tempDir();
    for (const [archive, id] of [
      [BUILD1, '1'],
      [BUILD2, '2'],
    ]) {
      expect((await run(['pull', archive, '-m', 'web', '-b', id, '--publish'])).code).toBe(0);
      expect((await gbp(['--store', local, 'pull', archive, '-m', 'web', '-b', id, '--publish'])).code).toBe(0);
    }
    const fromBucket = tempDir();
    const fromDir = tempDir();
    const a = await run(['--json', 'export-rsync', '--unverified', '--dest', fromBucket]);
    expect(a.code, a.stderr).toBe(0);
    const b = await gbp(['--store', local, '--json', 'export-rsync', '--dest', fromDir]);
    expect(b.code, b.stderr).toBe(0);
    const { listTree } = await import('../helpers/tree-compare.js');
    expect(listTree(join(a.json().paths.repos, 'web/test_repo'), { mtimes: true })).toEqual(listTree(join(b.json().paths.repos, 'web/test_repo'), { mtimes: true }));

    expect((await run(['purge', '--keep-last', '1'])).code).toBe(0);
    const gc = await run(['--json', 'gc', '--grace', '0']);
    expect(gc.code, gc.stderr).toBe(0);
    expect(gc.json().deleted).toBeGreaterThan(0);
    expect((await run(['fsck'])).code).toBe(0);
    await clientFetches(`${onBucket(bucket).base}/machines/web/binpkgs`);
  });
});
