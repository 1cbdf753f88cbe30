/**
 * `gbp purge` and `gbp fsck` as functions that return what they found or did (gc is
 * maintenance/gc.ts's `runGc`): the CLI only parses and renders, and tests can call these.
 */
import { applyPurge, planPurge, type PurgePlan } from '../maintenance/purge.js';
import { fsck, type FsckReport } from '../maintenance/fsck.js';
import type { RetentionPolicy } from '../maintenance/retention.js';
import { saveSite, type SiteSettings } from '../store/site.js';
import type { Store } from '../store/store.js';
import { renderFrontPage, renderMachinePages } from '../views/pages.js';
import { applyDelete, planDelete, type DeletePlan } from '../maintenance/delete.js';
import { refreshMachineViews } from '../views/machine-views.js';

/** Plans the purge for `machines` (null: every machine), and unless a dry run applies it and re-renders the pages. */
export async function purge(store: Store, site: SiteSettings, machines: string[] | null, policy: RetentionPolicy, o: { dryRun?: boolean; now?: number } = {}): Promise<PurgePlan[]> {
  const plans = await planPurge(store, machines, policy, o.now ?? Math.floor(Date.now() / 1000));
  if (o.dryRun) return plans;
  await applyPurge(store, plans);
  for (const p of plans) if (p.builds.length) await renderMachinePages(store, site, p.machine);
  return plans;
}

/**
 * Checks the store; a repair regenerates what is derived. `site` may carry a new base URL only for
 * a repair, which then records it and rewrites every index for it.
 */
export async function check(store: Store, site: SiteSettings, o: { repair?: boolean; content?: boolean; onProgress?: (text: string) => void }): Promise<FsckReport> {
  if (o.repair) await saveSite(store, site);
  return fsck(store, site, { repair: !!o.repair, content: o.content ?? true, onProgress: o.onProgress });
}

/** Plans deleting builds of a machine (none named: the machine), and unless a dry run does it and re-renders what shows them. */
export async function deleteBuilds(store: Store, site: SiteSettings, machine: string, ids: string[], o: { dryRun?: boolean; force?: boolean } = {}): Promise<DeletePlan> {
  const plan = await planDelete(store, machine, ids, !!o.force);
  if (o.dryRun) return plan;
  await applyDelete(store, plan);
  if (plan.wholeMachine) await renderFrontPage(store, site);
  else await refreshMachineViews(store, site, machine);
  return plan;
}
