/**
 * Publishing a Portage index: `Packages`, then `Packages.gz`, each file's mtime its TIMESTAMP
 * (spec/portage-binhost.md). Clients fetch `Packages.gz` first, so it is written last and is the
 * one atomic switch a client sees (DESIGN.md invariant 2); a crash between the two leaves the old
 * `Packages.gz` in place, and re-running repairs the pair (invariant 3). The build's own index
 * (ingest/commit.ts), the published and tag views (views/machine-views.ts) and fsck --repair (through
 * those two) all write their indexes here.
 */
import type { RenderedIndex } from '../binpkg/index-render.js';
import type { Store } from '../store/store.js';

export async function publishIndexPair(store: Store, dir: string, index: RenderedIndex): Promise<void> {
  await store.put(`${dir}Packages`, index.text, { mtime: index.timestamp, contentType: 'text/plain; charset=utf-8' });
  await store.put(`${dir}Packages.gz`, index.gz, { mtime: index.timestamp, contentType: 'application/gzip' });
}
