/**
 * Opens where a build archive comes from: a file path, `-` for standard input, or an HTTP(S) URL
 * (Jenkins serves artifacts at `<job>/<n>/artifact/<name>` behind Basic auth: GBP_HTTP_USER and
 * GBP_HTTP_TOKEN). Returns the raw bytes as an async iterable; nothing is buffered beyond a chunk.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { GbpError } from '../errors.js';

export interface ArchiveSource {
  /** How the source is named in messages and in build.json. */
  label: string;
  /** Total size when known up front (files; HTTP with Content-Length). */
  size: number | null;
  open(): AsyncIterable<Buffer>;
}

const CHUNK = 1 << 20;

export async function openSource(spec: string): Promise<ArchiveSource> {
  if (spec === '-') {
    return { label: 'standard input', size: null, open: () => process.stdin as AsyncIterable<Buffer> };
  }
  if (/^https?:\/\//i.test(spec)) return httpSource(spec);
  let size: number;
  try {
    const st = await stat(spec);
    if (!st.isFile()) throw new GbpError('input', spec, 'not a regular file');
    size = st.size;
  } catch (err) {
    if (err instanceof GbpError) throw err;
    throw new GbpError('input', spec, `cannot open the archive: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return { label: spec, size, open: () => createReadStream(spec, { highWaterMark: CHUNK }) };
}

async function httpSource(url: string): Promise<ArchiveSource> {
  const headers: Record<string, string> = {};
  const user = process.env.GBP_HTTP_USER;
  const token = process.env.GBP_HTTP_TOKEN;
  if (user && token) headers.authorization = `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}`;
  const shown = redact(url);
  let res: Response;
  try {
    res = await fetch(url, { headers, redirect: 'follow' });
  } catch (err) {
    throw new GbpError('input', shown, `cannot download the archive: ${(err as Error).message}`);
  }
  if (res.status === 401 || res.status === 403) {
    throw new GbpError('input', shown, `HTTP ${res.status}: the server refused our credentials (set GBP_HTTP_USER and GBP_HTTP_TOKEN)`);
  }
  if (res.status === 404) throw new GbpError('input', shown, 'HTTP 404: no archive at this URL');
  if (!res.ok || !res.body) throw new GbpError('input', shown, `HTTP ${res.status} ${res.statusText}`);
  const length = Number(res.headers.get('content-length'));
  const body = res.body;
  return {
    label: shown,
    size: Number.isFinite(length) && length > 0 ? length : null,
    open: () => Readable.fromWeb(body as import('node:stream/web').ReadableStream<Uint8Array>) as AsyncIterable<Buffer>,
  };
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return url;
  }
}
