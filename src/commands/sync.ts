/**
 * `gbp sync <from> <to>` as a function: opens both stores, settles the destination's settings
 * (its base URL: the one given, else the one it has, else the source's for a new destination),
 * and replicates (maintenance/sync.ts). A dry run returns the plan and writes nothing. A bucket
 * source's records are verified against the site keys given (records/record-signatures.ts).
 */
import { GbpError } from '../errors.js';
import { syncStores, type SyncResult } from '../maintenance/sync.js';
import { openStore } from '../store/open-store.js';
import type { S3Settings } from '../store/s3-config.js';
import { keys } from '../store/keys.js';
import { loadSite } from '../store/site.js';
import type { SitePublicKey } from '../trust/site-key.js';
import { recordReaderFor } from '../records/record-signatures.js';

export interface SyncCommandOptions {
  s3?: S3Settings;
  /** The destination's public URL (--base-url); default as above. */
  baseUrl?: string;
  rsyncUrl?: string;
  machines?: string[];
  dryRun?: boolean;
  /** The publisher's site public keys (--trust-site-key): the source's records must carry a signature by one. */
  trustedSiteKeys?: SitePublicKey[];
  /** Read a bucket's records without checking them. */
  unverified?: boolean;
  onPhase?: (text: string) => void;
}

export async function sync(fromSpec: string, toSpec: string, o: SyncCommandOptions = {}): Promise<SyncResult> {
  const from = await openStore(fromSpec, o.s3);
  const reader = recordReaderFor(from, o.trustedSiteKeys ?? [], !!o.unverified);
  const to = await openStore(toSpec, o.s3);
  // each site.json read once: the destination's bytes also tell whether it changes
  const [fromStored, toStored] = await Promise.all([from.get(keys.site()), to.get(keys.site())]);
  if (!fromStored) throw new GbpError('not-found', fromSpec, 'not a gbp store (it has no site.json)');
  const fromSite = await loadSite(from, undefined, undefined, { stored: fromStored });
  const baseUrl = o.baseUrl ?? (toStored ? undefined : fromSite.baseUrl);
  const toSite = await loadSite(to, baseUrl, o.rsyncUrl ?? fromSite.rsyncUrl, { stored: toStored });
  return syncStores(from, to, toSite, { machines: o.machines, dryRun: o.dryRun, onPhase: o.onPhase, reader, storedSite: toStored });
}
