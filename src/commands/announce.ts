/**
 * What a command tells the webhooks (notify/): one event per thing that happened, with what a
 * receiver needs to act without reading the store (which packages changed, where to look).
 * The body is versioned; README "Webhooks" documents it.
 */
import { loadBuild, type BuildManifest } from '../records/build-manifest.js';
import { countPackageChanges, diffPackages, type ChangeKind, type PackageChange } from '../records/build-diff.js';
import { API_PREFIX } from '../views/static-api.js';
import type { SiteSettings } from '../store/site.js';
import type { Store } from '../store/store.js';
import { deliverAll, type Delivery, type DeliveryOptions } from '../notify/deliver.js';
import { hooksFilePath, readHooks, type Hook, type HookEvent } from '../notify/hook-config.js';

export const PAYLOAD_VERSION = 1;
/** A receiver gets the first this many package changes and the counts of all. */
const MAX_LISTED_CHANGES = 500;

export type Announcement =
  | { event: 'pulled'; machine: string; build: string }
  | { event: 'published'; machine: string; build: string; previous: string | null }
  | { event: 'tagged'; machine: string; build: string; tag: string; previous: string | null }
  | { event: 'deleted'; machine: string; builds: string[]; wholeMachine: boolean };

interface Changes {
  against: string | null;
  counts: Record<ChangeKind, number>;
  packages: PackageChange[];
  truncated: boolean;
}

/** What `build` changed against build `from` (null: against nothing, a first build adds all). */
async function changesBetween(store: Store, from: string | null, build: BuildManifest | null): Promise<Changes | null> {
  if (!build) return null;
  const before = from ? await loadBuild(store, build.machine, from) : null;
  const all = diffPackages(before?.binpkgs.packages ?? [], build.binpkgs.packages);
  return { against: before?.id ?? null, counts: countPackageChanges(all), packages: all.slice(0, MAX_LISTED_CHANGES), truncated: all.length > MAX_LISTED_CHANGES };
}

function links(site: SiteSettings, machine: string, build?: string): Record<string, string> {
  const m = encodeURIComponent(machine);
  return {
    machine: `${site.baseUrl}/machines/${m}/index.html`,
    ...(build ? { build: `${site.baseUrl}/builds/${m}/${encodeURIComponent(build)}/index.html` } : {}),
    binpkgs: `${site.baseUrl}/machines/${m}/binpkgs/`,
    feed: `${site.baseUrl}/machines/${m}/feed.xml`,
    api: `${site.baseUrl}/${API_PREFIX}machines/${m}/builds.json`,
  };
}

/** The JSON body of one announcement (without `event` and `delivery`, which the sender adds). */
export async function payloadFor(store: Store, site: SiteSettings, a: Announcement, now = new Date()): Promise<object> {
  const common = { version: PAYLOAD_VERSION, site: site.baseUrl, time: now.toISOString(), machine: a.machine };
  switch (a.event) {
    case 'pulled': {
      const build = await loadBuild(store, a.machine, a.build);
      return { ...common, build: a.build, changes: await changesBetween(store, build?.parent ?? null, build), links: links(site, a.machine, a.build) };
    }
    case 'published':
      return { ...common, build: a.build, previous: a.previous, changes: await changesBetween(store, a.previous, await loadBuild(store, a.machine, a.build)), links: links(site, a.machine, a.build) };
    case 'tagged':
      return { ...common, build: a.build, tag: a.tag, previous: a.previous, links: links(site, a.machine, a.build) };
    case 'deleted':
      return { ...common, builds: a.builds, wholeMachine: a.wholeMachine, links: a.wholeMachine ? {} : links(site, a.machine) };
  }
}

/**
 * Sends each announcement to the hooks of the hooks file that asked for its event; nothing is
 * read from the store when no hook asks. Never throws for a receiver: see Delivery.ok.
 */
export async function announce(store: Store, site: SiteSettings, list: Announcement[], o: DeliveryOptions & { hooks?: Hook[] } = {}): Promise<Delivery[]> {
  const hooks = o.hooks ?? readHooks(hooksFilePath());
  const wanted = list.filter((a) => hooks.some((h) => h.events.includes(a.event as HookEvent)));
  if (!wanted.length) return [];
  const messages = [];
  for (const a of wanted) messages.push({ event: a.event, payload: await payloadFor(store, site, a) });
  return deliverAll(hooks, messages, o);
}

/** `gbp hooks test`: a ping to every hook (or one), to check a receiver and its secret. */
export async function pingHooks(hooks: Hook[], site: SiteSettings, o: DeliveryOptions = {}): Promise<Delivery[]> {
  const payload = { version: PAYLOAD_VERSION, site: site.baseUrl, time: new Date().toISOString() };
  return deliverAll(hooks, [{ event: 'ping', payload }], o);
}
