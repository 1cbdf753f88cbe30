/**
 * Checks a store: every blob against its meta.json (size, and with content checks its SHA-256,
 * MD5 and SHA1), every tree manifest against its name, every file a live tree points at against
 * its SHA-256 in its pack, every build's references, and every derived view (a build's Packages,
 * a machine's published and tag indexes) against what build.json and state.json say it must be.
 * `repair` regenerates derived views (invariant 3). Damaged content-addressed objects cannot be
 * regenerated: a content check records them (records/damage.ts), and the next pull of an archive
 * that holds their bytes restores them.
 */
import { createHash } from 'node:crypto';
import type { ArtifactRecord, BuildManifest, PackageRecord } from '../records/build-manifest.js';
import { buildArtifacts } from '../records/artifacts.js';
import { writeBuildIndex } from '../ingest/write-order.js';
import { treeEntries } from '../records/tree-manifest.js';
import { keys } from '../store/keys.js';
import type { SiteSettings } from '../store/site.js';
import type { Store } from '../store/store.js';
import { readState } from '../records/machine-state.js';
import { recordedBuilds, type RecordedBuild } from '../records/recorded-builds.js';
import { refreshMachineViews } from '../views/machine-views.js';
import { servesBuild } from '../records/index-pair.js';
import { writeDamage, type DamageRecord } from '../records/damage.js';
import { historyPageCount, renderMachinePages } from '../views/pages.js';
import { API_PREFIX } from '../views/static-api.js';
import { checkBundle } from '../trust/trusted-keys.js';
import { sha256Hex } from '../util/sha256.js';

export interface Problem {
  key: string;
  problem: string;
  repaired: boolean;
}

export interface FsckReport {
  checked: { blobs: number; trees: number; files: number; builds: number; views: number; artifacts: number };
  problems: Problem[];
}

/** A function that notes a problem in `list`. */
function noteInto(list: Problem[]) {
  return (key: string, text: string, repaired = false) => void list.push({ key, problem: text, repaired });
}

export async function fsck(store: Store, site: SiteSettings, opts: { repair: boolean; content: boolean; onProgress?: (text: string) => void }): Promise<FsckReport> {
  const say = opts.onProgress ?? (() => {});
  const report: FsckReport = { checked: { blobs: 0, trees: 0, files: 0, builds: 0, views: 0, artifacts: 0 }, problems: [] };
  const problem = noteInto(report.problems);
  const damage: DamageRecord = { blobs: [], ranges: [] };
  const RESTORE = 'pull an archive that holds it to restore it';

  // blobs
  const blobDirs = new Map<string, string[]>();
  for await (const key of store.list('blobs/')) {
    const sha = key.split('/')[2];
    const list = blobDirs.get(sha);
    if (list) list.push(key);
    else blobDirs.set(sha, [key]);
  }
  for (const [sha, files] of blobDirs) {
    report.checked.blobs++;
    say(`packages ${report.checked.blobs}/${blobDirs.size}`);
    const metaKey = keys.blobMeta(sha);
    const raw = await store.get(metaKey);
    let meta: PackageRecord | null = null;
    try {
      meta = raw ? (JSON.parse(raw.toString('utf8')) as PackageRecord) : null;
    } catch {
      meta = null;
    }
    if (!meta || meta.sha256 !== sha) {
      problem(metaKey, raw ? 'meta.json is unreadable or names another blob' : 'blob without meta.json (an interrupted pull; gc removes it)');
      continue;
    }
    const blobKey = `blobs/${meta.stanza.PATH}`;
    if (!files.includes(blobKey)) {
      problem(blobKey, `the package file is missing (${RESTORE})`);
      damage.blobs.push({ sha256: sha, key: blobKey });
      continue;
    }
    const st = await store.stat(blobKey);
    if (st?.size !== meta.size) {
      problem(blobKey, `size ${st?.size} differs from the recorded ${meta.size} (${RESTORE})`);
      damage.blobs.push({ sha256: sha, key: blobKey });
      continue;
    }
    if (opts.content) {
      const stream = await store.getStream(blobKey);
      const [s256, md5, sha1] = ['sha256', 'md5', 'sha1'].map((a) => createHash(a));
      for await (const chunk of stream!) for (const h of [s256, md5, sha1]) h.update(chunk as Buffer);
      const got = [s256, md5, sha1].map((h) => h.digest('hex'));
      if (got[0] !== sha || got[1] !== meta.md5 || got[2] !== meta.sha1) {
        problem(blobKey, `content does not match its SHA-256/MD5/SHA1 (corrupt; ${RESTORE})`);
        damage.blobs.push({ sha256: sha, key: blobKey });
      }
    }
  }

  // trees, and the files they point at (only live trees' files: a dead tree's packs may be gone)
  const recorded: RecordedBuild[] = [];
  for await (const r of recordedBuilds(store)) recorded.push(r);
  const damagedRanges = new Set<string>();
  const liveTrees = new Set(recorded.flatMap((r) => Object.values(r.build?.trees ?? {}).map((t) => t.manifest)));
  for await (const key of store.list('trees/')) {
    report.checked.trees++;
    say(`trees ${report.checked.trees}, tree files ${report.checked.files}`);
    const sha = key.split('/')[2].replace(/\.json\.gz$/, '');
    const data = (await store.get(key))!;
    if (sha256Hex(data) !== sha) {
      problem(key, 'content does not match its name (corrupt)');
      continue;
    }
    if (!opts.content || !liveTrees.has(sha)) continue;
    await checkTreeFiles(store, data, {
      checked: () => report.checked.files++,
      missingPack: (pack) => problem(keys.pack(pack), `missing, but tree ${sha.slice(0, 12)}… points into it`),
      corrupt: (r, path) => {
        problem(`${keys.pack(r.pack)}@${r.offset}`, `${path} does not match its SHA-256 (corrupt; ${RESTORE})`);
        if (!damagedRanges.has(`${r.pack}@${r.offset}`)) damage.ranges.push(r);
        damagedRanges.add(`${r.pack}@${r.offset}`);
      },
    });
  }

  // builds
  const machines = new Set<string>();
  const builds = new Map<string, BuildManifest>();
  for (const { machine, id, build } of recorded) {
    machines.add(machine);
    report.checked.builds++;
    say(`builds ${report.checked.builds}`);
    if (!build) {
      problem(keys.buildJson(machine, id), 'listed in state.json but missing');
      continue;
    }
    builds.set(`${machine} ${id}`, build);
    // what is wrong with the build, reported (and repaired) only if it still exists when checked:
    // a delete meanwhile takes its files away, and a repair would bring some back
    const found: Problem[] = [];
    const suspect = noteInto(found);
    for (const p of build.binpkgs.packages) if (!blobDirs.has(p.sha256)) suspect(keys.blobMeta(p.sha256), `missing, but build ${machine} ${id} lists ${p.stanza.CPV}`);
    for (const ref of Object.values(build.trees)) if (!(await store.exists(keys.tree(ref.manifest)))) suspect(keys.tree(ref.manifest), `missing, but build ${machine} ${id} uses it`);
    for (const a of await buildArtifacts(store, build)) {
      report.checked.artifacts++;
      const reason = await checkArtifact(store, keys.buildArtifact(machine, id, a.name), a, opts.content);
      if (reason) suspect(keys.buildArtifact(machine, id, a.name), `${reason} (artifact of ${machine} ${id}; attach it again, or pull its archive under a new id)`);
    }
    if (build.log) {
      const reason = await checkArtifact(store, keys.buildLog(machine, id), { size: build.log.storedBytes, sha256: build.log.sha256 }, opts.content);
      if (reason) suspect(keys.buildLog(machine, id), `${reason} (the console log of ${machine} ${id})`);
    }
    const dir = keys.buildBinpkgs(machine, id);
    const indexWrong = !(await servesBuild(store, site, dir, build));
    if (indexWrong) suspect(`${dir}Packages`, 'differs from build.json (or is missing)', opts.repair);
    if (!found.length || !(await store.exists(keys.buildJson(machine, id)))) continue;
    if (indexWrong && opts.repair) await writeBuildIndex(store, site, build);
    report.problems.push(...found);
  }

  // the trusted keys' bundle, derived from keys/*.asc
  if (!(await checkBundle(store, opts.repair))) problem(keys.trustedKeyBundle(), 'differs from the key files in keys/ (a keys add or remove cut short)', opts.repair);

  // published and tag views
  for (const machine of machines) {
    // the state as it is now: a publish while the builds were checked moved the views with it
    // (and a machine deleted meanwhile has neither views nor pages left to check)
    const state = await readState(store, machine);
    if (!state) continue;
    const views: [string, string][] = [];
    if (state.published) views.push([keys.machineBinpkgs(machine), state.published]);
    for (const [tag, id] of Object.entries(state.tags)) views.push([keys.tagBinpkgs(machine, tag), id]);
    let stale = false;
    for (const [dir, id] of views) {
      report.checked.views++;
      const build = builds.get(`${machine} ${id}`);
      if (!build) continue;
      if (!(await servesBuild(store, site, dir, build))) {
        stale = true;
        problem(`${dir}Packages`, `does not serve build ${id} as state.json says`, opts.repair);
      }
    }
    if (stale && opts.repair) await refreshMachineViews(store, site, machine);

    // pages are derived too: a missing one is rendered again from state and build.json
    const present = state.builds.filter((b) => builds.has(`${machine} ${b.id}`));
    const history = Array.from({ length: historyPageCount(present.length) }, (_, i) => keys.machineHistoryPage(machine, i + 1));
    // the machine page, feed and builds.json are written only when their hash in pages.json changes
    const own = [`machines/${machine}/index.html`, `machines/${machine}/feed.xml`, `${API_PREFIX}machines/${machine}/builds.json`];
    const pages = [...own, ...history, ...present.map((b) => `${keys.buildDir(machine, b.id)}index.html`)];
    const missing = [];
    for (const page of pages) if (!(await store.exists(page))) missing.push(page);
    for (const page of missing) problem(page, 'page missing', opts.repair);
    if (missing.length && opts.repair) {
      await store.delete(`machines/${machine}/pages.json`); // forget what was rendered: render all
      await renderMachinePages(store, site, machine);
    }
  }
  // what only a pull can restore, for the next pull that brings it (a check without content reads
  // cannot tell, and leaves the record as it is)
  if (opts.content) await writeDamage(store, damage);
  return report;
}

type PackRange = DamageRecord['ranges'][number];

/**
 * Re-hashes every file a tree points at, one pack read at a time. The tree is walked, never
 * decoded whole: per pack only offsets, sizes, digests and entry numbers are kept (a 124,000-file
 * tree in a few MB), and the path of a damaged file is found by a second walk.
 */
async function checkTreeFiles(store: Store, data: Buffer, on: { checked: () => void; missingPack: (pack: string) => void; corrupt: (range: PackRange, path: string) => void }): Promise<void> {
  const byPack = new Map<string, { offsets: number[]; sizes: number[]; digests: string[]; ordinals: number[] }>();
  let ordinal = 0;
  for (const e of treeEntries(data)) {
    ordinal++;
    if (e.type !== 'f' || !e.pack || !e.sha256) continue;
    let at = byPack.get(e.pack);
    if (!at) byPack.set(e.pack, (at = { offsets: [], sizes: [], digests: [], ordinals: [] }));
    at.offsets.push(e.offset);
    at.sizes.push(e.size);
    at.digests.push(e.sha256);
    at.ordinals.push(ordinal);
  }
  const bad = new Map<number, PackRange>();
  for (const [pack, at] of byPack) {
    const bytes = await store.get(keys.pack(pack));
    if (!bytes) {
      on.missingPack(pack);
      continue;
    }
    for (let i = 0; i < at.offsets.length; i++) {
      on.checked();
      const got = sha256Hex(bytes.subarray(at.offsets[i], at.offsets[i] + at.sizes[i]));
      if (got !== at.digests[i]) bad.set(at.ordinals[i], { pack, offset: at.offsets[i], size: at.sizes[i], sha256: at.digests[i] });
    }
  }
  if (!bad.size) return;
  ordinal = 0;
  for (const e of treeEntries(data)) {
    const b = bad.get(++ordinal);
    if (b) on.corrupt(b, e.path);
  }
}

/** An artifact's object against its record: there, of its size, and (with `content`) of its SHA-256. */
async function checkArtifact(store: Store, key: string, a: Pick<ArtifactRecord, 'size' | 'sha256'>, content: boolean): Promise<string | null> {
  const st = await store.stat(key);
  if (!st) return 'missing';
  if (st.size !== a.size) return `${st.size} bytes where the record says ${a.size}`;
  if (!content) return null;
  const stream = await store.getStream(key);
  if (!stream) return 'missing';
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex') === a.sha256 ? null : 'content does not match its SHA-256';
}
