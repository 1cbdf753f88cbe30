/**
 * The browsable site: static HTML beside the indexes, so it works from a bucket through a CDN as
 * from a directory. Front page (index.html), one page per machine (machines/<m>/index.html) and
 * one per build (builds/<m>/<id>/index.html), all with relative links and no outside assets.
 *
 * Rendering is incremental: machines/<m>/pages.json remembers, per build, what its page showed of
 * the machine's state (published, tags, kept, note) plus the figures the machine and front pages
 * need. A build page is rendered when the build is new or those markers changed, never otherwise;
 * the machine page and front page are cheap and compared before they are written. The record is
 * derived, like every view (invariant 3): lose it and the next change renders everything again.
 */
import { Eta } from 'eta';
import { parseCpv } from '../binpkg/version.js';
import type { BuildManifest, PackageRecord } from '../records/build-manifest.js';
import { loadBuild, signerCounts } from '../records/build-manifest.js';
import { loadTreeEntries, loadTreeManifest, readTreeFile, type TreeCache } from '../records/tree-files.js';
import { countPackageChanges, diffBuilds, diffPackages, repoMarks, worldOf, type BuildDiff, type ChangeKind, type PackageChange } from '../records/build-diff.js';
import { packagePageKey, updatePackagePages, type BuildChanges } from './package-pages.js';
import { listMachines, readState, type MachineState } from '../records/machine-state.js';
import { keys } from '../store/keys.js';
import { buildArtifacts } from '../records/artifacts.js';
import { atomFeed, FEED_ENTRIES, type FeedBuild } from './feeds.js';
import { API_PREFIX, buildFactsDocument, buildsDocument, machinesDocument, type ApiBuildFacts } from './static-api.js';
import type { SiteSettings } from '../store/site.js';
import type { Store } from '../store/store.js';
import { bytes, when } from '../util/format.js';
import { barChart } from './charts.js';
import { mapLimit } from '../util/pool.js';
import { configDiff } from './config-diff.js';
import { sha256Hex } from '../util/sha256.js';
import { projectFile } from '../util/project-file.js';

/** Bump when templates change what a build page shows, so existing pages are rendered again. */
const PAGES_VERSION = 3;
/** A machine with no build for this long is flagged on the front page. */
const STALE_DAYS = 7;
/** The machine page lists the newest builds; all of them are on history pages of a fixed size. */
const NEWEST_SHOWN = 50;
/** Builds per history page, counted from the oldest, so a new build rewrites the last page only. */
const HISTORY_PAGE = 100;
/** The machine page's charts show the newest builds only: a bar per build stays readable. */
const CHARTED = 100;
/** etc-portage files larger than this are linked by size, not shown inline. */
const MAX_INLINE_FILE = 64 * 1024;
/** The front page: builds per day over this many days, the newest builds and packages across machines. */
const CHART_DAYS = 30;
const RECENT_BUILDS = 15;
const RECENT_PACKAGES = 30;
/** Small records read side by side (a bucket's round trips are the cost of a render). */
const READS_IN_FLIGHT = 16;

/** templates/ at the project root. */
const templates = projectFile('templates') ?? 'templates';
const eta = new Eta({ views: templates, cache: true, autoEscape: true });

export interface BuildRow {
  /** What the page shows of the state; the page is rendered again when it differs. */
  markers: string;
  created: number;
  parent: string | null;
  packages: number;
  bytes: number;
  /** Packages added, removed, upgraded, downgraded or rebuilt since the parent. */
  changed: number;
}

interface PagesRecord {
  format: number;
  builds: Record<string, BuildRow>;
  /** SHA-256 → size of every package the machine's recorded builds hold (for storage totals). */
  blobs: Record<string, number>;
  /** SHA-256 of each history page as written, so an unchanged page is neither read nor written. */
  history?: string[];
  /** SHA-256 of the machine page, feed and API document as written: an unchanged one is neither read nor written. */
  written?: Record<string, string>;
  /** Set once the machine's package pages exist (views/package-pages.ts); a record without it has them all written. */
  packagePages?: 1;
  /** For the newest builds only: the packages each built, for the front page (read with this record). */
  recentBuilt?: Record<string, BuiltPackage[]>;
}

interface BuiltPackage {
  name: string;
  version: string;
  change: ChangeKind;
}

/** What a build's facts say it built since its parent (nothing for a first build: it "adds" all). */
function builtSince(facts: { parent: unknown; packages: { name: string; version: string; change: ChangeKind | null }[] }): BuiltPackage[] {
  if (!facts.parent) return [];
  return facts.packages.filter((p) => p.change && p.change !== 'removed').slice(0, RECENT_PACKAGES).map((p) => ({ name: p.name, version: p.version, change: p.change! }));
}

const pagesKey = (machine: string) => `machines/${machine}/pages.json`;
/** A time on a page: absolute (complete without script), with a relative hint the page's script adds when it is read. */
function timeTag(unixSeconds: number): string {
  const iso = new Date(unixSeconds * 1000).toISOString();
  return `<time class="rel" datetime="${iso}" title="${iso}">${iso.slice(0, 10)} ${iso.slice(11, 16)}</time>`;
}

const helpers = { bytes, when, ago, span, time: timeTag };

/**
 * Renders what changed for one machine: new or re-marked build pages, its page, the front page.
 * `pagesFrom`: a store holding this machine's package pages for the same builds (sync's source);
 * `state`: the machine's state as the caller has just read or written it.
 */
export async function renderMachinePages(store: Store, site: SiteSettings, machine: string, given: { pagesFrom?: Store; state?: MachineState } = {}): Promise<{ rendered: string[] }> {
  const done = await renderMachine(store, site, machine, given, true);
  if (done) return { rendered: done.rendered };
  // the machine is gone (deleted): the front page still changes
  return { rendered: (await renderFrontPage(store, site)) ? ['index.html'] : [] };
}

/** The machine's pages; `withFront`: the front page too, beside its package pages. */
async function renderMachine(
  store: Store,
  site: SiteSettings,
  machine: string,
  { pagesFrom, state: known }: { pagesFrom?: Store; state?: MachineState } = {},
  withFront = false,
): Promise<{ rendered: string[]; record: PagesRecord } | null> {
  const [state, previous] = await Promise.all([known ?? readState(store, machine), readPagesRecord(store, machine)]);
  if (!state) return null;
  const record: PagesRecord = { format: PAGES_VERSION, builds: {}, blobs: {} };
  const recorded = new Set(state.builds.map((b) => b.id));
  // Storage figures carry over unless builds went (purge): then they are counted again from all.
  const recount = !previous || Object.keys(previous.builds).some((id) => !recorded.has(id));
  if (!recount) Object.assign(record.blobs, previous.blobs);
  const rendered: string[] = [];
  const built = new Map<string, BuiltPackage[]>();
  const fresh: BuildChanges[] = [];
  // a page links its parent while the parent is recorded: its purge changes the page too
  const markersFor = (id: string, parent: string | null) => JSON.stringify([PAGES_VERSION, markersOf(state, id), parent === null ? null : recorded.has(parent)]);
  // the pages to render (a new build, and the builds whose markers changed: a publish re-marks
  // two) are rendered side by side, each a few round trips to a bucket; the rest carry over
  const stale = state.builds.filter((entry) => {
    const had = previous?.builds[entry.id];
    return !(had && had.markers === markersFor(entry.id, had.parent) && !recount);
  });
  // (never a build held past its worker: after a purge, every build is read again)
  const pages = await mapLimit(stale, READS_IN_FLIGHT, async (entry) => {
    const build = await loadBuild(store, machine, entry.id);
    if (!build) return null; // a pull still recording it; the next change renders it
    for (const p of build.binpkgs.packages) record.blobs[p.sha256] = p.size;
    const markers = markersFor(entry.id, build.parent);
    const had = previous?.builds[entry.id];
    if (had?.markers === markers) return { created: build.created, page: null };
    // the build's API document is immutable: written once, when its page first is (or on upgrade)
    return { created: build.created, page: await renderBuildPage(store, site, state, build, markers, !had || !previous?.packagePages) };
  });
  const renderedAt = new Map(stale.map((entry, i) => [entry.id, pages[i]]));
  for (const entry of state.builds) {
    const had = previous?.builds[entry.id];
    if (!renderedAt.has(entry.id)) {
      record.builds[entry.id] = had!;
      continue;
    }
    const done = renderedAt.get(entry.id);
    if (!done) continue;
    const { created, page } = done;
    if (!page) {
      record.builds[entry.id] = had!;
      continue;
    }
    record.builds[entry.id] = page.row;
    built.set(entry.id, page.built);
    if (!had) fresh.push({ id: entry.id, created, changes: page.changes });
    rendered.push(`${keys.buildDir(machine, entry.id)}index.html`);
  }
  const rows = buildRows(state, record);
  // builds went (purge, delete), or no package pages yet: all of them again, from every build's facts
  const all = recount || !previous?.packagePages ? await allBuildChanges(store, machine, rows) : null;
  // the package pages, the machine's own pages and then the front page go side by side: none
  // reads what another writes (the front page is given this machine's record, not its old copy)
  const packagePages = updatePackagePages({ store, site, state, eta, helpers, rendered, pagesFrom }, fresh, all);
  const machinePages = recentlyBuilt(store, machine, rows, built, previous).then(async (recent) => {
    record.recentBuilt = recent;
    // the front page needs this machine's record complete but for its history hashes (not shown)
    return Promise.all([renderMachineOwnPages(store, site, state, rows, record, previous, rendered), withFront && renderFrontPage(store, site, new Map([[machine, record]]))]);
  });
  const [, [, frontChanged]] = await Promise.all([packagePages, machinePages]);
  if (frontChanged) rendered.push('index.html');
  record.packagePages = 1;
  // the record that remembers them goes last, so a render cut short is done again, never skipped
  // compared with the record read at the start, not read again
  const text = `${JSON.stringify(record)}\n`;
  if (!previous || text !== `${JSON.stringify(previous)}\n`) await store.put(pagesKey(machine), text, { contentType: 'application/json' });
  return { rendered, record };
}

/** What each of the newest builds built, for the front page: from the pages just rendered, else as recorded before. */
async function recentlyBuilt(store: Store, machine: string, rows: ReturnType<typeof buildRows>, built: Map<string, BuiltPackage[]>, previous: PagesRecord | null): Promise<Record<string, BuiltPackage[]>> {
  const recent: Record<string, BuiltPackage[]> = {};
  for (const r of rows.slice(-RECENT_BUILDS)) {
    recent[r.id] = built.get(r.id) ?? previous?.recentBuilt?.[r.id] ?? builtSince(await buildPageFacts(store, (await loadBuild(store, machine, r.id))!));
  }
  return recent;
}

/** The machine page, its history pages, feed and API document. */
async function renderMachineOwnPages(
  store: Store,
  site: SiteSettings,
  state: MachineState,
  rows: ReturnType<typeof buildRows>,
  record: PagesRecord,
  previous: PagesRecord | null,
  rendered: string[],
): Promise<void> {
  const machine = state.machine;
  const feed = atomFeed(site, { title: `${machine}: builds`, path: `machines/${machine}/feed.xml`, page: `machines/${machine}/`, builds: rows.slice(-FEED_ENTRIES).map((r) => feedBuild(machine, r)) });
  const api = `${API_PREFIX}machines/${machine}/builds.json`;
  const apiBuilds = rows.map((r) => {
    const { machine: _, ...b } = feedBuild(machine, r);
    return { ...b, kept: r.markers.kept };
  });
  // independent of each other: written side by side (a bucket's round trips are the cost)
  record.written = {};
  const write = async (key: string, text: string, contentType: string) => {
    const hash = sha256Hex(text);
    record.written![key] = hash;
    if (previous?.written?.[key] === hash) return;
    await store.put(key, text, { contentType });
    rendered.push(key);
  };
  const [history] = await Promise.all([
    renderHistoryPages(store, site, machine, rows, previous?.history ?? [], rendered),
    write(`machines/${machine}/index.html`, renderMachinePage(site, state, rows), 'text/html; charset=utf-8'),
    write(`machines/${machine}/feed.xml`, feed, 'application/atom+xml'),
    write(api, buildsDocument(site, machine, apiBuilds), 'application/json'),
  ]);
  record.history = history;
}

/** The front page, from every machine's state and page record (two small reads per machine). */
export async function renderFrontPage(store: Store, site: SiteSettings, known: Map<string, PagesRecord> = new Map()): Promise<boolean> {
  const now = Math.floor(Date.now() / 1000);
  const machines = [];
  const feedBuilds: FeedBuild[] = [];
  const today = Math.floor(now / 86400);
  const perDay = new Map<number, number>();
  const recent: (MachineRow & { machine: string; order: number; built: BuiltPackage[] })[] = [];
  const unique = new Map<string, number>();
  let logical = 0;
  let builds = 0;
  // two small reads per machine, side by side: on a bucket, 50 machines are 100 round trips
  const loaded = await mapLimit(await listMachines(store), READS_IN_FLIGHT, async (machine) => {
    const [state, record] = await Promise.all([readState(store, machine), known.get(machine) ?? readPagesRecord(store, machine)]);
    return { machine, state, record };
  });
  for (const { machine, state, record: had } of loaded) {
    // a machine whose pages were never rendered (a store older than the pages) gets them now
    const record = had ?? (await renderMachine(store, site, machine))?.record;
    if (!state || !record) continue;
    for (const [sha, size] of Object.entries(record.blobs)) unique.set(sha, size);
    for (const b of Object.values(record.builds)) logical += b.bytes;
    builds += state.builds.length;
    const latest = state.builds.at(-1)?.id ?? null;
    const latestSummary = latest ? record.builds[latest] : undefined;
    const problems: string[] = [];
    if (latestSummary && now - latestSummary.created > STALE_DAYS * 86400) problems.push(`no build for ${Math.floor((now - latestSummary.created) / 86400)} days`);
    if (latest && state.published !== latest) problems.push(state.published ? `latest build ${latest} is not published` : 'nothing published');
    machines.push({ name: machine, published: state.published, latest, builds: state.builds.length, summary: latestSummary ?? null, tags: state.tags, problems });
    const rows = buildRows(state, record);
    feedBuilds.push(...rows.slice(-FEED_ENTRIES).map((r) => feedBuild(machine, r)));
    for (const r of rows) {
      const day = Math.floor(r.summary.created / 86400);
      if (day > today - CHART_DAYS) perDay.set(day, (perDay.get(day) ?? 0) + 1);
    }
    recent.push(...rows.slice(-RECENT_BUILDS).map((r, order) => ({ machine, order, built: record.recentBuilt?.[r.id] ?? [], ...r })));
  }
  // newest first; builds of one machine stored in the same second keep their order
  recent.sort((a, b) => b.summary.created - a.summary.created || (a.machine < b.machine ? -1 : a.machine > b.machine ? 1 : b.order - a.order));
  recent.splice(RECENT_BUILDS);
  const days = Array.from({ length: CHART_DAYS }, (_, i) => today - CHART_DAYS + 1 + i);
  const dayLabel = (d: number) => new Date(d * 86400000).toISOString().slice(5, 10);
  const buildsPerDay = barChart(
    days.map((d) => ({ value: perDay.get(d) ?? 0, tick: dayLabel(d), label: new Date(d * 86400000).toISOString().slice(0, 10), href: null })),
    (n) => `${Math.round(n)}`,
    { x: `day (UTC), the last ${CHART_DAYS}`, y: 'builds' },
  );
  const recentPackages = recentlyBuiltPackages(recent);
  const physical = [...unique.values()].reduce((a, b) => a + b, 0);
  const apiMachines = machines.map((m) => ({ name: m.name, published: m.published, latest: m.latest, builds: m.builds, tags: m.tags, problems: m.problems }));
  const html = eta.render('./front', {
    root: '',
    site,
    now,
    machines,
    unhealthy: machines.filter((m) => m.problems.length),
    buildsPerDay,
    recent,
    recentPackages,
    totals: { builds, packages: unique.size, physical, logical, saved: Math.max(0, logical - physical) },
    h: helpers,
  });
  const changed = await Promise.all([
    writeIfChanged(store, 'index.html', html),
    writeIfChanged(store, `${API_PREFIX}machines.json`, machinesDocument(site, apiMachines), 'application/json'),
    writeIfChanged(store, 'feed.xml', atomFeed(site, { title: 'All machines: builds', path: 'feed.xml', page: '', builds: feedBuilds }), 'application/atom+xml'),
  ]);
  return changed.some(Boolean);
}

function apiFacts(site: SiteSettings, build: BuildManifest, facts: Awaited<ReturnType<typeof computeFacts>>, artifacts: Awaited<ReturnType<typeof buildArtifacts>>): ApiBuildFacts {
  const dir = `${site.baseUrl}/builds/${build.machine}/${build.id}/`;
  return {
    machine: build.machine,
    id: build.id,
    created: build.created,
    parent: build.parent,
    packages: facts.packages.map((p) => ({ name: p.name, version: p.version, slot: p.slot, buildId: p.buildId, size: p.size, change: p.change, signer: p.signer, url: `${site.baseUrl}/blobs/${p.href.split('blobs/')[1]}` })),
    removed: facts.removed.map((r) => ({ package: r.package, from: r.from })),
    world: facts.world,
    worldChanges: facts.worldDiff,
    config: facts.etcFiles.map((f) => ({ path: f.path, type: f.type, status: f.status })),
    configRemoved: facts.removedConfig,
    repos: facts.repos.map((r) => ({ name: r.name, timestamp: r.timestamp, commit: r.commit, files: r.files, changed: r.changed })),
    artifacts: artifacts.map((a) => ({ name: a.name, size: a.size, sha512: a.sha512, blake2b: a.blake2b, signer: a.signer ?? null, url: `${dir}artifacts/${a.name}` })),
  };
}

/** What every rendered build changed and holds, from its page facts (one read per build: a purge's or an upgrade's cost). */
async function allBuildChanges(store: Store, machine: string, rows: MachineRow[]): Promise<BuildChanges[]> {
  const read = await mapLimit(rows, READS_IN_FLIGHT, async (r): Promise<BuildChanges | null> => {
    const build = await loadBuild(store, machine, r.id);
    if (!build) return null;
    const facts = await buildPageFacts(store, build);
    return { id: r.id, created: r.summary.created, changes: facts.changes, names: [...new Set(facts.packages.map((p) => p.name))] };
  });
  return read.filter((b): b is BuildChanges => b !== null);
}

/** The packages the newest builds across machines built, newest first, once each. */
function recentlyBuiltPackages(recent: { machine: string; id: string; summary: BuildRow; built: BuiltPackage[] }[]) {
  const out: (BuiltPackage & { machine: string; id: string; created: number })[] = [];
  const seen = new Set<string>();
  for (const r of recent) {
    for (const p of r.built) {
      if (seen.has(`${p.name} ${p.version}`)) continue;
      seen.add(`${p.name} ${p.version}`);
      out.push({ ...p, machine: r.machine, id: r.id, created: r.summary.created });
      if (out.length >= RECENT_PACKAGES) return out;
    }
  }
  return out;
}

function markersOf(state: MachineState, id: string) {
  return {
    published: state.published === id,
    tags: Object.entries(state.tags)
      .filter(([, b]) => b === id)
      .map(([t]) => t)
      .sort(),
    kept: state.kept.includes(id),
    note: state.notes[id] ?? null,
    // an attached artifact changes the page; absent rather than 0, so older pages.json keep matching
    ...(state.attached[id] ? { attached: state.attached[id] } : {}),
  };
}

async function renderBuildPage(store: Store, site: SiteSettings, state: MachineState, build: BuildManifest, markers: string, writeApi: boolean): Promise<{ row: BuildRow; built: BuiltPackage[]; changes: PackageChange[] }> {
  const [facts, artifacts] = await Promise.all([buildPageFacts(store, build), buildArtifacts(store, build)]);
  const api = writeApi ? store.put(keys.buildApiFacts(build.machine, build.id), buildFactsDocument(apiFacts(site, build, facts, artifacts)), { contentType: 'application/json' }) : null;
  const m = JSON.parse(markers)[1] as ReturnType<typeof markersOf>;
  const root = '../../../';
  const html = eta.render('./build', {
    ...facts,
    parent: facts.parent ? { id: facts.parent.id, gone: !state.builds.some((b) => b.id === facts.parent!.id) } : null,
    root,
    site,
    build,
    markers: m,
    clientConfig: m.published ? `${root}machines/${build.machine}/` : m.tags.length ? `${root}machines/${build.machine}/tags/${m.tags[0]}/` : null,
    artifacts,
    state,
    h: helpers,
  });
  // rendered only when new or re-marked, so it differs: written without reading the old one first
  await Promise.all([api, store.put(`${keys.buildDir(build.machine, build.id)}index.html`, html, { contentType: 'text/html; charset=utf-8' })]);
  return { row: { markers, created: build.created, parent: build.parent, packages: build.binpkgs.packages.length, bytes: facts.total, changed: facts.changedCount }, built: builtSince(facts), changes: facts.changes };
}

/**
 * What a build page shows that depends only on the build and its parent, both immutable: worked
 * out once (the diff of two 124k-file trees costs about a second) and kept in page.json beside the
 * page, so a publish, tag or note re-renders the page from it without reading any tree.
 */
async function buildPageFacts(store: Store, build: BuildManifest) {
  const key = keys.buildPageFacts(build.machine, build.id);
  const cached = await store.get(key);
  if (cached) {
    try {
      const facts = JSON.parse(cached.toString('utf8'));
      if (facts.version === PAGES_VERSION) return facts as Awaited<ReturnType<typeof computeFacts>>;
    } catch {
      // recomputed below
    }
  }
  const facts = await computeFacts(store, build);
  await store.put(key, `${JSON.stringify(facts)}\n`, { contentType: 'application/json', immutable: true });
  return facts;
}

async function computeFacts(store: Store, build: BuildManifest) {
  const parent = build.parent ? await loadBuild(store, build.machine, build.parent) : null;
  const trees: TreeCache = new Map();
  const diff: BuildDiff | null = parent ? await diffBuilds(store, parent, build, trees) : null;
  const changeOf = new Map<string, ChangeKind>();
  for (const c of diff?.packages ?? []) if (c.to) changeOf.set(`${c.to.cpv} ${c.to.buildId}`, c.change);
  const packages = [...build.binpkgs.packages]
    .sort((a, b) => (a.stanza.CPV < b.stanza.CPV ? -1 : a.stanza.CPV > b.stanza.CPV ? 1 : 0))
    .map((p) => packageRow(p, '../../../', build.machine, changeOf.get(`${p.stanza.CPV} ${p.stanza.BUILD_ID ?? ''}`) ?? null));
  const etc = await loadTreeEntries(store, build, 'etc-portage', trees);
  const parentEtc = parent && diff?.config.changed.length ? await loadTreeEntries(store, parent, 'etc-portage', trees) : null;
  const etcFiles = [];
  for (const e of etc ?? []) {
    if (e.type === 'd') continue;
    const text = e.type === 'f' && e.size <= MAX_INLINE_FILE ? ((await readTreeFile(store, etc, e.path))?.toString('utf8') ?? '') : null;
    const status = diff?.config.added.includes(e.path) ? 'added' : diff?.config.changed.includes(e.path) ? 'changed' : null;
    // a changed file is shown as its diff against the parent's (both small enough to show)
    const before = status === 'changed' && text !== null && parentEtc ? parentEtc.find((p) => p.path === e.path) : undefined;
    const beforeText = before?.type === 'f' && before.size <= MAX_INLINE_FILE ? ((await readTreeFile(store, parentEtc, e.path))?.toString('utf8') ?? null) : null;
    const changes = beforeText !== null && text !== null ? configDiff(beforeText, text) : null;
    etcFiles.push({ path: e.path, type: e.type, target: e.target, size: e.size, text, status, diff: changes });
  }
  const world = await worldOf(store, build, trees);
  const repos = [];
  for (const [name, ref] of Object.entries(build.trees)) {
    if (!name.startsWith('repos/')) continue;
    const change = diff?.repos.find((r) => r.repo === name.slice(6));
    if (change) {
      repos.push({ name: change.repo, files: ref.files, bytes: ref.bytes, timestamp: change.to, commit: change.toCommit, changed: change.filesChanged, changedFiles: change.changedFiles });
      continue;
    }
    const manifest = await loadTreeManifest(store, build, ref.manifest);
    const marks = await repoMarks(store, manifest);
    repos.push({ name: name.slice(6), files: ref.files, bytes: ref.bytes, timestamp: marks.timestamp, commit: marks.commit, changed: parent ? 0 : null, changedFiles: [] as BuildDiff['repos'][number]['changedFiles'] });
  }
  // How long the build took, as far as the packages tell: from the first to the last package this
  // build compiled (its instances new since the parent; all of them for a first build).
  const parentInstances = new Set(parent?.binpkgs.packages.map((p) => p.sha256) ?? []);
  const buildTimes = build.binpkgs.packages
    .filter((p) => !parentInstances.has(p.sha256))
    .map((p) => Number(p.stanza.BUILD_TIME))
    .filter((t) => Number.isFinite(t) && t > 0);
  return {
    version: PAGES_VERSION,
    parent: parent ? { id: parent.id } : build.parent ? { id: build.parent, gone: true } : null,
    packages,
    removed: (diff?.packages ?? []).filter((c) => c.change === 'removed'),
    // every package change since the parent (a first build adds all): the package pages' entries
    changes: diff ? diff.packages : diffPackages([], build.binpkgs.packages),
    counts: diff ? countPackageChanges(diff.packages) : null,
    changedCount: diff?.packages.length ?? build.binpkgs.packages.length,
    world,
    worldDiff: diff?.world ?? null,
    etcFiles,
    removedConfig: diff?.config.removed ?? [],
    repos: repos.sort((a, b) => (a.name < b.name ? -1 : 1)),
    total: build.binpkgs.packages.reduce((n, p) => n + p.size, 0),
    compiled: buildTimes.length ? { from: buildTimes.reduce((a, b) => Math.min(a, b)), to: buildTimes.reduce((a, b) => Math.max(a, b)), count: buildTimes.length } : null,
    signed: build.binpkgs.packages.filter((p) => p.signed).length,
    checked: !!build.binpkgs.trustedKeys,
    signers: [...signerCounts(build.binpkgs.packages)].sort((a, b) => b[1] - a[1]).map(([fingerprint, count]) => ({ fingerprint, count })),
    unvouched: build.binpkgs.trustedKeys ? build.binpkgs.packages.filter((p) => !p.signer).length : 0,
  };
}

type MachineRow = { id: string; summary: BuildRow; markers: ReturnType<typeof markersOf> };

function feedBuild(machine: string, r: MachineRow): FeedBuild {
  const s = r.summary;
  return { machine, id: r.id, created: s.created, packages: s.packages, changed: s.changed, parent: s.parent, published: r.markers.published, tags: r.markers.tags, note: r.markers.note };
}

/** The machine's rendered builds, oldest first. */
function buildRows(state: MachineState, record: PagesRecord): MachineRow[] {
  return state.builds.filter((b) => record.builds[b.id]).map((b) => ({ id: b.id, summary: record.builds[b.id], markers: markersOf(state, b.id) }));
}

/** How many history pages a machine with this many rendered builds has. */
export function historyPageCount(builds: number): number {
  return builds <= NEWEST_SHOWN ? 0 : Math.ceil(builds / HISTORY_PAGE);
}

/** Pages of HISTORY_PAGE builds each, oldest first; one page per HISTORY_PAGE builds. */
function historyPages(rows: MachineRow[]): { page: number; first: string; last: string; rows: MachineRow[] }[] {
  if (!historyPageCount(rows.length)) return [];
  const pages = [];
  for (let at = 0; at < rows.length; at += HISTORY_PAGE) {
    const chunk = rows.slice(at, at + HISTORY_PAGE);
    pages.push({ page: pages.length + 1, first: chunk[0].id, last: chunk.at(-1)!.id, rows: chunk });
  }
  return pages;
}

function renderMachinePage(site: SiteSettings, state: MachineState, rows: MachineRow[]): string {
  const root = '../../';
  const charted = rows.slice(-CHARTED);
  const href = (id: string) => `${root}builds/${state.machine}/${encodeURIComponent(id)}/index.html`;
  return eta.render('./machine', {
    root,
    site,
    state,
    total: rows.length,
    builds: rows.slice(-NEWEST_SHOWN).reverse(),
    history: historyPages(rows).map(({ page, first, last }) => ({ page, first, last })),
    charted: charted.length,
    changedChart: barChart(charted.map((b) => ({ value: b.summary.changed, tick: b.id, label: `build ${b.id}`, href: href(b.id) })), (n) => `${Math.round(n)}`, { x: 'build', y: 'packages changed' }),
    sizeChart: barChart(charted.map((b) => ({ value: b.summary.bytes, tick: b.id, label: `build ${b.id}`, href: href(b.id) })), bytes, { x: 'build', y: 'size' }),
    h: helpers,
  });
}

/**
 * Writes the history pages whose content changed (a new build touches the last page, a publish
 * the pages of the two builds involved) and removes pages a purge left beyond the end. Returns
 * each page's hash for the record.
 */
async function renderHistoryPages(store: Store, site: SiteSettings, machine: string, rows: MachineRow[], had: string[], rendered: string[]): Promise<string[]> {
  const pages = historyPages(rows);
  const hashes: string[] = [];
  for (const p of pages) {
    const html = eta.render('./history', { root: '../../../', site, machine, page: p.page, pages: pages.length, first: p.first, last: p.last, builds: [...p.rows].reverse(), h: helpers });
    const hash = sha256Hex(html);
    hashes.push(hash);
    const key = keys.machineHistoryPage(machine, p.page);
    if (had[p.page - 1] === hash) continue;
    await store.put(key, html, { contentType: 'text/html; charset=utf-8' });
    rendered.push(key);
  }
  for (let page = pages.length + 1; page <= had.length; page++) await store.delete(keys.machineHistoryPage(machine, page));
  return hashes;
}

function packageRow(p: PackageRecord, root: string, machine: string, change: ChangeKind | null) {
  const cpv = parseCpv(p.stanza.CPV);
  return {
    name: cpv ? `${cpv.category}/${cpv.pn}` : p.stanza.CPV,
    version: cpv?.version ?? '',
    slot: p.stanza.SLOT ?? '0',
    size: p.size,
    buildId: p.stanza.BUILD_ID ?? '',
    href: `${root}blobs/${p.stanza.PATH}`,
    page: cpv ? `${root}${packagePageKey(machine, `${cpv.category}/${cpv.pn}`).split('/').map(encodeURIComponent).join('/')}` : null,
    description: p.description ?? '',
    signed: p.signed,
    signer: p.signer ?? null,
    change,
  };
}

async function readPagesRecord(store: Store, machine: string): Promise<PagesRecord | null> {
  const raw = await store.get(pagesKey(machine));
  if (!raw) return null;
  try {
    const r = JSON.parse(raw.toString('utf8')) as PagesRecord;
    return r.format === PAGES_VERSION ? r : null;
  } catch {
    return null;
  }
}

async function writeIfChanged(store: Store, key: string, text: string, contentType = 'text/html; charset=utf-8'): Promise<boolean> {
  if ((await store.get(key))?.toString('utf8') === text) return false;
  await store.put(key, text, { contentType });
  return true;
}

/** A duration for people: "3 h 12 min", "14 min", "40 s". */
export function span(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  const m = Math.round(seconds / 60);
  return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function ago(unixSeconds: number, now = Math.floor(Date.now() / 1000)): string {
  const s = Math.max(0, now - unixSeconds);
  if (s < 90) return 'just now';
  if (s < 5400) return `${Math.round(s / 60)} minutes ago`;
  if (s < 129600) return `${Math.round(s / 3600)} hours ago`;
  return `${Math.round(s / 86400)} days ago`;
}

