/** Content types for keys written without one (pages, configs); `.gz` is never Content-Encoding. */
export function contentTypeOf(key: string): string {
  if (key.endsWith('.html')) return 'text/html; charset=utf-8';
  if (key.endsWith('.json')) return 'application/json';
  if (key.endsWith('.gz')) return 'application/gzip';
  if (key.endsWith('.tar') || key.endsWith('.tbz2') || key.endsWith('.xpak')) return 'application/x-tar';
  if (key.endsWith('.svg')) return 'image/svg+xml';
  if (key.endsWith('.css')) return 'text/css; charset=utf-8';
  if (key.endsWith('.conf') || key.endsWith('Packages')) return 'text/plain; charset=utf-8';
  return 'application/octet-stream';
}
