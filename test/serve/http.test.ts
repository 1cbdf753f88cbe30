/**
 * `gbp serve`, checked the way Portage's fetcher and a browser use it: every HTTP rule of
 * spec/portage-binhost.md §1 that a server decides, against the real binary (`gbp serve`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePackages } from '../../src/binpkg/packages-index.js';
import { GBP, gbp, tempDir } from '../helpers/cli.js';
import { startServe } from '../helpers/serve.js';
import { fixture } from '../helpers/fixtures.js';

let server: ChildProcess;
let base = '';
const store = tempDir();

beforeAll(async () => {
  expect((await gbp(['--store', store, '--base-url', 'http://127.0.0.1', 'pull', fixture('build-archive/build.tar.gz'), '-m', 'web', '-b', '1', '--publish'])).code).toBe(0);
  ({ child: server, url: base } = await startServe(store));
});
afterAll(() => {
  server?.kill('SIGTERM');
});

/** A raw request line, for paths fetch() would normalise away. */
function raw(path: string): Promise<string> {
  const { port, hostname } = new URL(base);
  return new Promise((resolve) => {
    const c = connect(Number(port), hostname, () => c.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let out = '';
    c.on('data', (d) => (out += d));
    c.on('end', () => resolve(out.split('\r\n')[0]));
  });
}

describe('gbp serve', () => {
  it('serves the published index with Last-Modified = TIMESTAMP and Packages.gz as a plain file', async () => {
    const res = await fetch(`${base}/machines/web/binpkgs/Packages`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    const text = await res.text();
    const ts = Number(parsePackages(text).header.TIMESTAMP);
    expect(Date.parse(res.headers.get('last-modified')!) / 1000).toBe(ts);
    const gz = await fetch(`${base}/machines/web/binpkgs/Packages.gz`, { headers: { 'accept-encoding': 'gzip' } });
    expect(gz.headers.get('content-type')).toBe('application/gzip');
    expect(gz.headers.get('content-encoding')).toBeNull();
    expect(gunzipSync(Buffer.from(await gz.arrayBuffer())).toString('utf8')).toBe(text);
  });

  it('answers If-Modified-Since TIMESTAMP+5s (what clients send) and If-None-Match with 304', async () => {
    const first = await fetch(`${base}/machines/web/binpkgs/Packages.gz`);
    const lm = Date.parse(first.headers.get('last-modified')!);
    const ims = await fetch(`${base}/machines/web/binpkgs/Packages.gz`, { headers: { 'if-modified-since': new Date(lm + 5000).toUTCString() } });
    expect(ims.status).toBe(304);
    const older = await fetch(`${base}/machines/web/binpkgs/Packages.gz`, { headers: { 'if-modified-since': new Date(lm - 60_000).toUTCString() } });
    expect(older.status).toBe(200);
    const etag = await fetch(`${base}/machines/web/binpkgs/Packages.gz`, { headers: { 'if-none-match': first.headers.get('etag')! } });
    expect(etag.status).toBe(304);
  });

  it('serves every package the index lists, with the digests it lists, and byte ranges of them', async () => {
    const index = parsePackages(await (await fetch(`${base}/machines/web/binpkgs/Packages`)).text());
    for (const e of index.entries) {
      const url = `${index.header.URI.replace('http://127.0.0.1', base)}/${e.PATH}`;
      const res = await fetch(url);
      expect(res.status, url).toBe(200);
      expect(res.headers.get('cache-control')).toContain('immutable');
      const bytes = Buffer.from(await res.arrayBuffer());
      expect(createHash('md5').update(bytes).digest('hex')).toBe(e.MD5);
      const part = await fetch(url, { headers: { range: 'bytes=512-1023' } });
      expect(part.status).toBe(206);
      expect(part.headers.get('content-range')).toBe(`bytes 512-1023/${e.SIZE}`);
      expect(Buffer.from(await part.arrayBuffer()).equals(bytes.subarray(512, 1024))).toBe(true);
      const tail = await fetch(url, { headers: { range: 'bytes=-100' } });
      expect(Buffer.from(await tail.arrayBuffer()).equals(bytes.subarray(bytes.length - 100))).toBe(true);
    }
    const past = await fetch(`${base}/blobs/${index.entries[0].PATH}`, { headers: { range: 'bytes=999999-' } });
    expect(past.status).toBe(416);
  });

  it('answers 404, never 403, for what is not there, and HEAD without a body', async () => {
    expect((await fetch(`${base}/machines/nosuch/binpkgs/Packages.gz`)).status).toBe(404);
    expect((await fetch(`${base}/blobs/`)).status).toBe(404);
    const head = await fetch(`${base}/machines/web/binpkgs/Packages`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBe(readFileSync(join(store, 'machines/web/binpkgs/Packages')).length);
    expect((await fetch(`${base}/machines/web/binpkgs/Packages`, { method: 'POST' })).status).toBe(405);
  });

  it('refuses path traversal and the private scratch area', async () => {
    expect(await raw('/../../../etc/passwd')).toBe('HTTP/1.1 400 Bad Request');
    expect(await raw('/machines/%2e%2e/%2e%2e/%2e%2e/etc/passwd')).toBe('HTTP/1.1 400 Bad Request');
    expect(await raw('/.tmp/')).toBe('HTTP/1.1 400 Bad Request');
    expect(await raw('/site.json%00.txt')).toBe('HTTP/1.1 400 Bad Request');
  });
});

describe('gbp serve with workers', () => {
  it('serves from every worker and stops cleanly on SIGTERM', async () => {
    const { createServer } = await import('node:net');
    const port = await new Promise<number>((r) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => r(p));
      });
    });
    const child = spawn(process.execPath, [GBP, '--store', store, 'serve', '--port', String(port), '--workers', '2'], { stdio: 'ignore' });
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = await fetch(`http://127.0.0.1:${port}/machines/web/binpkgs/Packages`).then((r) => r.status, () => 0);
    }
    expect(status).toBe(200);
    const all = await Promise.all(Array.from({ length: 20 }, () => fetch(`http://127.0.0.1:${port}/machines/web/binpkgs/Packages.gz`).then((r) => r.status)));
    expect(all.every((s) => s === 200)).toBe(true);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow();
  });
});
