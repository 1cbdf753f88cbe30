/** `gbp publish <machine> <ref>`: what clients of the machine see becomes that build (a rollback too). */
import { requireBuild } from '../records/build-manifest.js';
import { saveSite, type SiteSettings } from '../store/site.js';
import type { Store } from '../store/store.js';
import { resolveBuildRef } from '../records/build-ref.js';
import { requireState, updateState } from '../records/machine-state.js';
import { refreshMachineViews } from '../views/machine-views.js';
import { assertName } from '../records/names.js';

export interface PublishResult {
  machine: string;
  id: string;
  previous: string | null;
  changed: boolean;
}

export async function publish(store: Store, site: SiteSettings, machine: string, ref: string): Promise<PublishResult> {
  assertName('machine name', machine);
  const state = await requireState(store, machine);
  const id = resolveBuildRef(state, ref);
  await requireBuild(store, machine, id);
  let previous: string | null = null;
  const updated = await updateState(store, machine, (s) => {
    previous = s.published;
    if (s.published === id) return false;
    s.published = id;
    return true;
  });
  await saveSite(store, site);
  await refreshMachineViews(store, site, machine, { state: updated });
  return { machine, id, previous, changed: previous !== id };
}
