/**
 * What a Portage client does with a published index, done against a store directory: parse it
 * with Portage's rules, build each package URL as `URI.rstrip('/') + '/' + PATH.lstrip('/')`, and
 * check the download against SIZE/MD5/SHA1. Asserts every MUST of spec/portage-binhost.md §1.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { expect } from 'vitest';
import { parsePackages, type PackagesIndex } from '../../src/binpkg/packages-index.js';

const MUST_KEYS = ['CPV', 'PATH', 'SIZE', 'MTIME', 'BUILD_ID', 'BUILD_TIME', 'MD5', 'SHA1', 'EAPI', 'KEYWORDS'];

export function clientReads(storeDir: string, indexDir: string, baseUrl: string): PackagesIndex {
  const file = join(storeDir, indexDir, 'Packages');
  const raw = readFileSync(file);
  expect(raw.subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf])), 'no BOM').toBe(false);
  const text = raw.toString('utf8');
  expect(text).not.toContain('\r');
  expect(text.endsWith('\n\n')).toBe(true);
  expect(text.slice(0, -1)).not.toContain('\n\n\n'); // a doubled blank line would end the body early
  const index = parsePackages(text);
  const h = index.header;
  expect(h.VERSION).toBe('0');
  expect(h.TIMESTAMP).toMatch(/^\d+$/);
  expect(Number(h.PACKAGES)).toBe(index.entries.length);
  for (const k of ['DOWNLOAD_TIMESTAMP', 'BASE_URI', 'PKGINDEX_URI']) expect(h[k]).toBeUndefined();
  expect(h.URI).toMatch(/^https?:\/\//);
  // file mtime = TIMESTAMP (Last-Modified must not exceed TIMESTAMP + 5 s)
  expect(Math.floor(statSync(file).mtimeMs / 1000)).toBe(Number(h.TIMESTAMP));

  // Packages.gz: same content, plain gzip member, no file name, header mtime = TIMESTAMP
  const gz = readFileSync(join(storeDir, indexDir, 'Packages.gz'));
  expect(gunzipSync(gz).toString('utf8')).toBe(text);
  expect(gz[3] & 0x08, 'FNAME flag').toBe(0);
  expect(gz.readUInt32LE(4)).toBe(Number(h.TIMESTAMP));
  expect(Math.floor(statSync(join(storeDir, indexDir, 'Packages.gz')).mtimeMs / 1000)).toBe(Number(h.TIMESTAMP));

  const cpvs = index.entries.map((e) => e.CPV);
  expect(cpvs).toEqual([...cpvs].sort());
  for (const e of index.entries) {
    for (const k of MUST_KEYS) expect(e[k], `${e.CPV} ${k}`).toBeTruthy();
    expect(e.REPO ?? h.REPO, `${e.CPV} REPO`).toBeTruthy();
    expect(e.PATH).not.toContain('..');
    expect(e.PATH).toMatch(/\.(gpkg\.tar|xpak|tbz2)$/);
    const url = `${h.URI.replace(/\/+$/, '')}/${e.PATH.replace(/^\/+/, '')}`;
    expect(url.startsWith(`${baseUrl}/`)).toBe(true);
    const local = join(storeDir, url.slice(baseUrl.length + 1));
    expect(existsSync(local), `${url} is served`).toBe(true);
    const bytes = readFileSync(local);
    expect(String(bytes.length)).toBe(e.SIZE);
    expect(createHash('md5').update(bytes).digest('hex')).toBe(e.MD5);
    expect(createHash('sha1').update(bytes).digest('hex')).toBe(e.SHA1);
  }
  return index;
}

/**
 * What a client sees at any instant, even in the middle of a publish: it reads Packages.gz (and
 * only falls back to Packages on a 404), so that index must be complete and every package in it
 * downloadable with the right digests.
 */
export function clientReadsGz(storeDir: string, indexDir: string, baseUrl: string): PackagesIndex {
  const index = parsePackages(gunzipSync(readFileSync(join(storeDir, indexDir, 'Packages.gz'))).toString('utf8'));
  expect(index.header.VERSION).toBe('0');
  expect(Number(index.header.PACKAGES)).toBe(index.entries.length);
  for (const e of index.entries) {
    const url = `${index.header.URI.replace(/\/+$/, '')}/${e.PATH.replace(/^\/+/, '')}`;
    const bytes = readFileSync(join(storeDir, url.slice(baseUrl.length + 1)));
    expect(createHash('sha1').update(bytes).digest('hex'), url).toBe(e.SHA1);
  }
  return index;
}

/** Portage's instance key: the fields that make two listings one download. */
export const instanceKey = (e: Record<string, string>) => [e.CPV, e.BUILD_ID, e.SIZE, e.BUILD_TIME, e.MTIME].join(' ');
