/**
 * A page per package and machine (`machines/<m>/packages/<category>/<name>.html`): every recorded
 * build in which it changed and how, the page form of `gbp log`. Each page carries its entries in
 * a comment, so a new build touches only the pages of the packages it changed: one read and one
 * write each, never a walk of the machine's history (on a bucket every request counts). A purge
 * or delete (builds gone) or a machine without package pages yet rebuilds them all from the
 * builds' page facts.
 */
import type { Eta } from 'eta';
import type { PackageChange } from '../records/build-diff.js';
import type { MachineState } from '../records/machine-state.js';
import type { SiteSettings } from '../store/site.js';
import type { Store } from '../store/store.js';
import { forEachLimit } from '../util/pool.js';

export interface PackageEntry {
  build: string;
  created: number;
  /** `category/name:slot` for a slot other than 0, as gbp diff names it. */
  slotted: string;
  change: PackageChange['change'];
  from: PackageChange['from'];
  to: PackageChange['to'];
}

/** What one build changed, as its page facts recorded it. */
export interface BuildChanges {
  id: string;
  created: number;
  changes: PackageChange[];
  /** Every package name the build holds (`category/name`): each keeps a page, even with no entry left. */
  names?: string[];
}

/** Package names as PMS allows them: a path segment each, never `.` or `..`. */
const NAME = /^[A-Za-z0-9_][A-Za-z0-9+_.-]*$/;
const PARALLEL = 32;

/** The page a package belongs to: `category/name` of `category/name[:slot]`, or null for a name no page can have. */
function pageName(packageKey: string): string | null {
  const name = packageKey.split(':')[0];
  const [category, pn, extra] = name.split('/');
  return extra === undefined && category && pn && NAME.test(category) && NAME.test(pn) ? name : null;
}

export const packagePageKey = (machine: string, name: string) => `machines/${machine}/packages/${name}.html`;
/** The entries inside the page: JSON in a comment, with `--` escaped (JSON allows \u002d) so it cannot end it. */
const ENTRIES_START = '<!-- gbp:entries ';
const ENTRIES_END = ' -->';
const entriesComment = (entries: PackageEntry[]) => `${ENTRIES_START}${JSON.stringify({ format: 1, entries }).replace(/--/g, '-\\u002d')}${ENTRIES_END}`;

function entriesFromPage(html: string): PackageEntry[] {
  const at = html.lastIndexOf(ENTRIES_START);
  if (at < 0) return [];
  const end = html.indexOf(ENTRIES_END, at);
  return (JSON.parse(html.slice(at + ENTRIES_START.length, end)) as { entries: PackageEntry[] }).entries;
}

function entriesOf(builds: BuildChanges[]): Map<string, PackageEntry[]> {
  const out = new Map<string, PackageEntry[]>();
  for (const b of builds) {
    for (const c of b.changes) {
      const name = pageName(c.package);
      if (!name) continue;
      const list = out.get(name) ?? [];
      list.push({ build: b.id, created: b.created, slotted: c.package, change: c.change, from: c.from, to: c.to });
      out.set(name, list);
    }
  }
  return out;
}

export interface PackagePagesContext {
  store: Store;
  site: SiteSettings;
  state: MachineState;
  eta: Eta;
  helpers: object;
  /** Pages written, for the caller's report. */
  rendered: string[];
  /**
   * Where a changed package's page is read before the new entries join it: this store, or (sync)
   * the source, which holds the same pages for the same builds, on its disk and not a round trip away.
   */
  pagesFrom?: Store;
}

/**
 * Adds the entries of `fresh` builds to the pages of the packages they changed; with `all`, the
 * entries of every recorded build replace what the pages had.
 */
export async function updatePackagePages(ctx: PackagePagesContext, fresh: BuildChanges[], all: BuildChanges[] | null): Promise<void> {
  const { store, state } = ctx;
  const machine = state.machine;
  // each recorded build's place in the machine's history: what a page keeps, and in which order
  const order = new Map(state.builds.map((b, i) => [b.id, i]));
  const writePage = (name: string, entries: PackageEntry[]) => renderPage(ctx, order, name, entries);
  if (all) {
    const entries = entriesOf(all);
    for (const b of all) for (const n of b.names ?? []) if (!entries.has(n) && pageName(n)) entries.set(n, []);
    // pages of packages no recorded build holds any more go (their builds were purged)
    const keep = new Set([...entries.keys()].map((n) => packagePageKey(machine, n)));
    const stale: string[] = [];
    for await (const key of store.list(`machines/${machine}/packages/`)) if (!keep.has(key)) stale.push(key);
    await forEachLimit(stale, PARALLEL, (key) => store.delete(key));
    await forEachLimit([...entries], PARALLEL, ([name, list]) => writePage(name, list));
    return;
  }
  const added = entriesOf(fresh);
  await forEachLimit([...added], PARALLEL, async ([name, list]) => {
    const raw = await (ctx.pagesFrom ?? store).get(packagePageKey(machine, name));
    let had: PackageEntry[] = [];
    try {
      had = raw ? entriesFromPage(raw.toString('utf8')) : [];
    } catch {
      had = []; // a damaged record: the page starts again from what this build says
    }
    const builds = new Set(list.map((e) => e.build));
    await writePage(name, [...had.filter((e) => !builds.has(e.build)), ...list]);
  });
}

async function renderPage(ctx: PackagePagesContext, order: Map<string, number>, name: string, entries: PackageEntry[]): Promise<void> {
  const { store, state } = ctx;
  const machine = state.machine;
  const live = entries.filter((e) => order.has(e.build)).sort((a, b) => order.get(a.build)! - order.get(b.build)!);
  const html = ctx.eta.render('./package', {
    root: '../../../../',
    site: ctx.site,
    machine,
    name,
    entries: [...live].reverse(),
    h: ctx.helpers,
  });
  await store.put(packagePageKey(machine, name), `${html}${entriesComment(live)}\n`, { contentType: 'text/html; charset=utf-8' });
  ctx.rendered.push(packagePageKey(machine, name));
}
