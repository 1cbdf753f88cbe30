/**
 * What a Portage client does over HTTP against a binhost URL (a bucket here, as behind a CDN):
 * fetch Packages.gz, parse it, build each package URL as `URI.rstrip('/') + '/' + PATH`, download
 * and check SIZE/MD5/SHA1. Also the headers spec/portage-binhost.md requires of the index.
 */
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { expect } from 'vitest';
import { parsePackages, type PackagesIndex } from '../../src/binpkg/packages-index.js';

export async function clientFetches(indexDirUrl: string): Promise<PackagesIndex> {
  const res = await fetch(`${indexDirUrl.replace(/\/$/, '')}/Packages.gz`);
  expect(res.status, `${indexDirUrl}/Packages.gz`).toBe(200);
  expect(res.headers.get('content-encoding')).toBeNull(); // else clients would gunzip twice
  const gz = Buffer.from(await res.arrayBuffer());
  const index = parsePackages(gunzipSync(gz).toString('utf8'));
  const timestamp = Number(index.header.TIMESTAMP);
  const lastModified = Date.parse(res.headers.get('last-modified')!) / 1000;
  expect(lastModified, 'Last-Modified ≤ TIMESTAMP + 5 s').toBeLessThanOrEqual(timestamp + 5);
  expect(Number(index.header.PACKAGES)).toBe(index.entries.length);
  for (const e of index.entries) {
    const url = `${index.header.URI.replace(/\/+$/, '')}/${e.PATH.replace(/^\/+/, '')}`;
    const pkg = await fetch(url);
    expect(pkg.status, url).toBe(200);
    const bytes = Buffer.from(await pkg.arrayBuffer());
    expect(String(bytes.length)).toBe(e.SIZE);
    expect(createHash('md5').update(bytes).digest('hex')).toBe(e.MD5);
    expect(createHash('sha1').update(bytes).digest('hex')).toBe(e.SHA1);
  }
  return index;
}
