/**
 * site.json: the store's format version and settings that every view depends on (the public base
 * URL that absolute `URI` headers are built from). Written once, updated when a setting changes.
 */
import { GbpError } from '../errors.js';
import { keys } from './keys.js';
import type { Store } from './store.js';

export const STORE_FORMAT = 1;
export const DEFAULT_BASE_URL = 'http://localhost:8080';

export interface SiteSettings {
  format: number;
  baseUrl: string;
  /** Where the rsync export is served (`rsync://host[:port]`); default: the base URL's host. */
  rsyncUrl?: string;
}

export function normaliseBaseUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new GbpError('usage', '--base-url', `'${url}' is not an absolute URL (Portage needs one for the URI header)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new GbpError('usage', '--base-url', `'${url}' must be an http:// or https:// URL`);
  }
  return u.toString().replace(/\/+$/, '');
}

/**
 * Reads site.json (or takes `stored`, its bytes already read) and applies a base URL or rsync URL
 * given on the command line. Nothing is written here: `saveSite` records the settings once a
 * command has something to store, so neither looking at a store nor a refused pull changes it.
 * A store already served at one base URL refuses another unless `allowBaseUrlChange` (fsck
 * --repair, which then rewrites every index): changing it in passing once left the other
 * machines' indexes on the old URL.
 */
export async function loadSite(
  store: Store,
  baseUrl: string | undefined,
  rsyncUrl?: string,
  o: { allowBaseUrlChange?: boolean; stored?: Buffer | null } = {},
): Promise<SiteSettings> {
  const raw = o.stored !== undefined ? o.stored : await store.get(keys.site());
  let site: SiteSettings | null = null;
  if (raw) {
    try {
      site = JSON.parse(raw.toString('utf8')) as SiteSettings;
    } catch {
      throw new GbpError('store', keys.site(), 'is not valid JSON (damaged or not written by gbp)');
    }
    if (!site || typeof site.baseUrl !== 'string') throw new GbpError('store', keys.site(), 'is not a gbp site record');
  }
  if (site && site.format !== STORE_FORMAT) {
    throw new GbpError('store', keys.site(), `store format ${site.format} is not supported by this version (${STORE_FORMAT})`);
  }
  const wanted = baseUrl ? normaliseBaseUrl(baseUrl) : undefined;
  if (site && wanted && wanted !== site.baseUrl && !o.allowBaseUrlChange) {
    throw new GbpError(
      'usage',
      '--base-url',
      `this store is served at ${site.baseUrl}, not ${wanted}; to move it, run 'gbp --base-url ${wanted} fsck --repair', which rewrites every index for the new URL`,
    );
  }
  if (!site || (wanted && wanted !== site.baseUrl)) {
    site = { ...site, format: STORE_FORMAT, baseUrl: wanted ?? site?.baseUrl ?? DEFAULT_BASE_URL };
  }
  if (rsyncUrl) {
    if (!/^rsync:\/\/[^/]+$/.test(rsyncUrl.replace(/\/+$/, ''))) throw new GbpError('usage', '--rsync-url', `'${rsyncUrl}' is not rsync://host[:port]`);
    site = { ...site, rsyncUrl: rsyncUrl.replace(/\/+$/, '') };
  }
  return site;
}

/** Writes site.json when it is missing or differs from `site` (`stored`: its bytes, already read). */
export async function saveSite(store: Store, site: SiteSettings, stored?: Buffer | null): Promise<void> {
  const text = `${JSON.stringify(site, null, 2)}\n`;
  const raw = stored !== undefined ? stored : await store.get(keys.site());
  if (raw?.toString('utf8') !== text) await store.put(keys.site(), text, { contentType: 'application/json' });
}
