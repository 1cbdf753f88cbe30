/**
 * The HTTP headers a store's objects are served with, in one place for both ways they reach
 * clients: S3 uploads set them on each object (s3-store.ts), `gbp serve` sends them (serve/).
 * - Content-Type by name. `Packages.gz` and other `.gz` files are `application/gzip` and never get
 *   a Content-Encoding: Portage gunzips the index itself.
 * - Cache-Control: content-addressed objects and a build's immutable directory never change, so
 *   caches keep them for a year; everything else (indexes, pages, client configuration) is
 *   revalidated after a minute, so a publish reaches clients behind a CDN within one.
 */
const TYPES: [RegExp, string][] = [
  [/(^|\/)Packages$/, 'text/plain; charset=utf-8'],
  [/\.html$/, 'text/html; charset=utf-8'],
  [/\.json$/, 'application/json'],
  [/(^|\/)feed\.xml$/, 'application/atom+xml'],
  [/\.gz$/, 'application/gzip'],
  [/\.(gpkg\.tar|tar|tbz2|xpak)$/, 'application/x-tar'],
  [/\.svg$/, 'image/svg+xml'],
  [/\.css$/, 'text/css; charset=utf-8'],
  [/\.(conf|asc|txt|DIGESTS)$/, 'text/plain; charset=utf-8'],
  [/\.xz$/, 'application/x-xz'],
  [/\.zst$/, 'application/zstd'],
  [/\.bz2$/, 'application/x-bzip2'],
];

export function contentTypeOf(key: string): string {
  return TYPES.find(([re]) => re.test(key))?.[1] ?? 'application/octet-stream';
}

export const CACHE_IMMUTABLE = 'public, max-age=31536000, immutable';
export const CACHE_MUTABLE = 'public, max-age=60, must-revalidate';

/** For a server that knows only the key: what lies below blobs/, packs/, trees/ and builds/ never changes. */
export function cacheControlOf(key: string): string {
  return /^(blobs|packs|trees|builds)\//.test(key) ? CACHE_IMMUTABLE : CACHE_MUTABLE;
}
