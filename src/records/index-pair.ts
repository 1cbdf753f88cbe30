/**
 * Publishing a Portage index: `Packages`, then `Packages.gz`, each file's mtime its TIMESTAMP
 * (spec/portage-binhost.md). Clients fetch `Packages.gz` first, so it is written last and is the
 * one atomic switch a client sees (DESIGN.md invariant 2); a crash between the two leaves the old
 * `Packages.gz` in place, and re-running repairs the pair (invariant 3). Every index gbp writes
 * goes through here: a build's own (ingest/write-order.ts), the published and tag views
 * (views/machine-views.ts), and fsck --repair through those two.
 *
 * TIMESTAMP is taken just before the upload, never earlier (a build's creation was, before a whole
 * pull's uploads: its own index then had a Last-Modified minutes past TIMESTAMP, and clients
 * downloaded it whole on every run). It rises on every change of what a URL serves, by more than
 * the 5 s clients add to If-Modified-Since; an index that already serves the build is not
 * rewritten, so clients are not sent it again for nothing.
 *
 * The same holds when the upload itself is slow: an object's Last-Modified is when the server
 * finished receiving it, and a store that throttles (503 SlowDown, retried with back-off) can push
 * that past TIMESTAMP + 5 s. A pair whose upload ended that late is written again at a fresh
 * TIMESTAMP, a few times at most: the content is the same, so a client that took the late one
 * misses nothing.
 */
import { gunzipSync } from 'node:zlib';
import { indexTimestampOf, renderIndex, type RenderedIndex } from '../binpkg/index-render.js';
import type { SiteSettings } from '../store/site.js';
import type { Store } from '../store/store.js';
import type { BuildManifest } from './build-manifest.js';

const CLIENT_SLACK_SECONDS = 5;
/** How long an upload may take and still count as on time: the slack, less a second for clocks. */
const UPLOAD_BUDGET_SECONDS = CLIENT_SLACK_SECONDS - 1;
const LATE_UPLOAD_ROUNDS = 3;

const nowSeconds = () => Date.now() / 1000;

/** A TIMESTAMP for what replaces an index stamped `previous` (0: none): now, and past its slack. */
function timestampAfter(previous: number, now = nowSeconds()): number {
  return Math.max(Math.floor(now), previous + CLIENT_SLACK_SECONDS + 1);
}

/** Writes the pair rendered at `timestamp`, again at a later one while the upload ends too late. */
async function publishIndexPair(store: Store, dir: string, render: (timestamp: number) => RenderedIndex, timestamp: number): Promise<void> {
  for (let round = 1; ; round++) {
    const index = render(timestamp);
    await store.put(`${dir}Packages`, index.text, { mtime: timestamp, contentType: 'text/plain; charset=utf-8' });
    await store.put(`${dir}Packages.gz`, index.gz, { mtime: timestamp, contentType: 'application/gzip' });
    const done = nowSeconds();
    if (done <= timestamp + UPLOAD_BUDGET_SECONDS || round === LATE_UPLOAD_ROUNDS) return;
    timestamp = timestampAfter(timestamp, done);
  }
}

/**
 * Makes `dir` serve `build`'s index; false when it already did. `fresh`: nothing can be there yet
 * (the build's record was just created), so nothing is read first.
 */
export async function writeIndexFor(store: Store, site: SiteSettings, dir: string, build: BuildManifest, o: { fresh?: boolean } = {}): Promise<boolean> {
  const previous = o.fresh ? '' : ((await store.get(`${dir}Packages`))?.toString('utf8') ?? '');
  if (previous && (await bothServe(store, site, dir, build, previous))) return false;
  const timestamp = timestampAfter(indexTimestampOf(previous));
  await publishIndexPair(store, dir, (ts) => renderIndex(build.binpkgs.header, build.binpkgs.packages, site.baseUrl, ts), timestamp);
  return true;
}

/** Whether `dir` serves `build`'s index, both files, at whatever TIMESTAMP it was written. */
export async function servesBuild(store: Store, site: SiteSettings, dir: string, build: BuildManifest): Promise<boolean> {
  const have = (await store.get(`${dir}Packages`))?.toString('utf8');
  return !!have && (await bothServe(store, site, dir, build, have));
}

/**
 * `packages` (the Packages read from `dir`) and `Packages.gz` beside it both hold the build's index
 * at that TIMESTAMP: a publish killed between the two leaves them apart.
 */
async function bothServe(store: Store, site: SiteSettings, dir: string, build: BuildManifest, packages: string): Promise<boolean> {
  const text = renderIndex(build.binpkgs.header, build.binpkgs.packages, site.baseUrl, indexTimestampOf(packages)).text;
  return packages === text && (await gzText(store, `${dir}Packages.gz`)) === text;
}

async function gzText(store: Store, key: string): Promise<string | null> {
  const gz = await store.get(key);
  if (!gz) return null;
  try {
    return gunzipSync(gz).toString('utf8');
  } catch {
    return null;
  }
}
