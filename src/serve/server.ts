/**
 * `gbp serve`: a static HTTP server over a store directory, for the embedded default (a bigger site
 * serves the same directory with nginx, or the bucket through a CDN). It answers the way Portage
 * needs (spec/portage-binhost.md §1):
 * - `Packages.gz` is a plain file: Content-Type application/gzip, never Content-Encoding;
 * - Last-Modified is the file's mtime, which for an index is its TIMESTAMP;
 * - If-None-Match / If-Modified-Since → 304; single byte ranges → 206; HEAD;
 * - a missing key is 404, never 403 (a 403 makes clients drop the repo); paths with `..`, NUL or a
 *   dot-segment (the store's private `.tmp/`) are refused;
 * - bodies are streamed from disk, never buffered;
 * - a directory serves its index.html; a `binpkgs/` directory (the URL pull and publish print, a
 *   binrepos.conf sync-uri) without one a plain listing, so it opens in a browser; others 404;
 * - the store holds no symlinks, so one planted there is not followed (O_NOFOLLOW).
 */
import { constants } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { cacheControlOf, contentTypeOf } from '../store/http-headers.js';

/** The store-relative path of a request, or null when it must be refused. */
export function requestPath(url: string): string | null {
  const raw = url.split('?')[0];
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return null;
  }
  if (!decoded.startsWith('/') || decoded.includes('\0') || decoded.includes('\\')) return null;
  const segments = decoded.split('/').slice(1);
  if (segments.some((s) => s === '..' || s === '.' || s.startsWith('.'))) return null;
  return segments.join('/');
}

const NO_FOLLOW = constants.O_RDONLY | constants.O_NOFOLLOW;

/** A directory without index.html: its visible entries, as links. */
async function listing(dir: string, rel: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (!(req.url ?? '/').split('?')[0].endsWith('/')) {
    res.writeHead(301, { location: `/${rel}/`.replace(/\/+/g, '/') }).end();
    return;
  }
  const names = (await readdir(dir, { withFileTypes: true }))
    .filter((e) => !e.name.startsWith('.') && (e.isFile() || e.isDirectory()))
    .map((e) => (e.isDirectory() ? `${e.name}/` : e.name))
    .sort();
  const esc = (t: string) => t.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const title = esc(`/${rel}`);
  const body = `<!doctype html><meta charset="utf-8"><title>${title}</title><h1>${title}</h1><ul>${names
    .map((n) => `<li><a href="${esc(encodeURIComponent(n.replace(/\/$/, '')) + (n.endsWith('/') ? '/' : ''))}">${esc(n)}</a></li>`)
    .join('')}</ul>\n`;
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache', 'content-length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

export function serveStore(root: string): Server {
  return createServer((req, res) => {
    handle(root, req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
}

async function handle(root: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  const rel = requestPath(req.url ?? '/');
  if (rel === null) {
    res.writeHead(400, { 'content-type': 'text/plain' }).end('bad path\n');
    return;
  }
  // open, then fstat: one path lookup per request, and the stream reads the file that was checked
  let file = join(root, rel);
  let fh = await open(file, NO_FOLLOW).catch(() => null);
  let st = fh ? await fh.stat() : null;
  if (fh && st?.isDirectory()) {
    await fh.close();
    const dir = file;
    file = join(file, 'index.html');
    fh = await open(file, NO_FOLLOW).catch(() => null);
    st = fh ? await fh.stat() : null;
    if (!fh && /(^|\/)binpkgs\/?$/.test(rel)) return listing(dir, rel, req, res);
  }
  if (!fh || !st || !st.isFile()) {
    await fh?.close();
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    return;
  }
  const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
  const lastModified = new Date(Math.floor(st.mtimeMs / 1000) * 1000);
  const cacheControl = cacheControlOf(rel);
  const headers: Record<string, string | number> = {
    'content-type': contentTypeOf(file),
    'last-modified': lastModified.toUTCString(),
    etag,
    'accept-ranges': 'bytes',
    'cache-control': cacheControl,
  };

  const inm = req.headers['if-none-match'];
  const ims = req.headers['if-modified-since'];
  const notModified = inm ? inm.split(',').some((t) => t.trim() === etag || t.trim() === '*') : ims ? lastModified.getTime() <= Date.parse(ims) : false;
  if (notModified) {
    await fh.close();
    res.writeHead(304, { etag, 'last-modified': lastModified.toUTCString(), 'cache-control': cacheControl }).end();
    return;
  }

  let start = 0;
  let end = st.size - 1;
  let status = 200;
  const range = req.headers.range;
  const ifRange = req.headers['if-range'];
  if (range && (!ifRange || ifRange === etag)) {
    const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
    if (m && (m[1] || m[2])) {
      if (m[1]) {
        start = Number(m[1]);
        end = m[2] ? Math.min(Number(m[2]), st.size - 1) : st.size - 1;
      } else {
        start = Math.max(0, st.size - Number(m[2]));
      }
      if (start > end || start >= st.size) {
        await fh.close();
        res.writeHead(416, { 'content-range': `bytes */${st.size}` }).end();
        return;
      }
      status = 206;
      headers['content-range'] = `bytes ${start}-${end}/${st.size}`;
    }
    // a multi-range or malformed Range is ignored: the whole file (RFC 9110 allows it)
  }
  headers['content-length'] = st.size === 0 ? 0 : end - start + 1;
  res.writeHead(status, headers);
  if (req.method === 'HEAD' || st.size === 0) {
    await fh.close();
    res.end();
    return;
  }
  // 1 MiB reads: a typical package (median 512 KB) goes out in one read and one write
  const stream = fh.createReadStream({ start, end, highWaterMark: 1 << 20 });
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}
