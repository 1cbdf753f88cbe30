/**
 * Opens where a build archive comes from: a file path, `-` for standard input, or an HTTP(S) URL
 * (Jenkins serves artifacts at `<job>/<n>/artifact/<name>` behind Basic auth: GBP_HTTP_USER and
 * GBP_HTTP_TOKEN). Returns the raw bytes as an async iterable; nothing is buffered beyond a chunk.
 * A request that fails transiently (network error, 5xx, 429) is retried with exponential back-off
 * and jitter, GBP_HTTP_RETRIES times (default 4); 401/403/404 are answers, not retried. A download
 * that breaks after its bytes began flowing fails the pull, which leaves no trace: run it again.
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
  const retries = Number(process.env.GBP_HTTP_RETRIES ?? 4);
  let res: Response | null = null;
  for (let attempt = 0; ; attempt++) {
    let problem: string;
    try {
      res = await fetch(url, { headers, redirect: 'follow' });
      if (res.status < 500 && res.status !== 429) break;
      problem = `HTTP ${res.status} ${res.statusText}`;
      await res.body?.cancel();
    } catch (err) {
      problem = (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message;
    }
    if (attempt >= retries) throw new GbpError('input', shown, `cannot download the archive after ${attempt + 1} attempts: ${problem}`);
    const delay = 500 * 2 ** attempt * (0.5 + Math.random());
    process.stderr.write(`gbp: ${shown}: ${problem}; retrying in ${(delay / 1000).toFixed(1)} s\n`);
    await new Promise((r) => setTimeout(r, delay));
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
