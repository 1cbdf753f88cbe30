/**
 * `gbp tag`, `gbp keep`, `gbp note`: marks on a build, each one compare-and-swap on the machine's
 * state. Tags get their own binpkgs index (machines/<m>/tags/<t>/binpkgs/) and rsync names
 * (<m>@<t>); a kept build is never purged; a note is free text shown as text everywhere.
 */
import { GbpError } from '../errors.js';
import type { SiteSettings } from '../store/site.js';
import { saveSite } from '../store/site.js';
import type { Store } from '../store/store.js';
import { resolveBuildRef } from '../records/build-ref.js';
import { requireState, updateState, type MachineState } from '../records/machine-state.js';
import { refreshMachineViews } from '../views/machine-views.js';
import { renderMachinePages } from '../views/pages.js';
import { assertName } from '../records/names.js';

function mustState(store: Store, machine: string): Promise<MachineState> {
  assertName('machine name', machine);
  return requireState(store, machine);
}

export interface MarkResult {
  machine: string;
  id: string | null;
  changed: boolean;
}

export async function tagBuild(store: Store, site: SiteSettings, machine: string, ref: string, tag: string): Promise<MarkResult & { previous: string | null }> {
  assertName('tag', tag);
  const id = resolveBuildRef(await mustState(store, machine), ref);
  let changed = false;
  let previous: string | null = null;
  await updateState(store, machine, (s) => {
    previous = s.tags[tag] ?? null;
    changed = s.tags[tag] !== id;
    s.tags[tag] = id;
    return changed;
  });
  await saveSite(store, site);
  await refreshMachineViews(store, site, machine);
  return { machine, id, changed, previous };
}

export async function untag(store: Store, site: SiteSettings, machine: string, tag: string): Promise<MarkResult> {
  const state = await mustState(store, machine);
  if (!(tag in state.tags)) throw new GbpError('not-found', `${machine} @${tag}`, `${machine} has no tag '${tag}'`);
  let id: string | null = null;
  await updateState(store, machine, (s) => {
    id = s.tags[tag] ?? null;
    delete s.tags[tag];
    return id !== null;
  });
  await refreshMachineViews(store, site, machine);
  return { machine, id, changed: true };
}

export async function keepBuild(store: Store, site: SiteSettings, machine: string, ref: string, release: boolean): Promise<MarkResult> {
  const id = resolveBuildRef(await mustState(store, machine), ref);
  let changed = false;
  await updateState(store, machine, (s) => {
    const has = s.kept.includes(id);
    changed = release ? has : !has;
    if (changed) s.kept = release ? s.kept.filter((k) => k !== id) : [...s.kept, id];
    return changed;
  });
  if (changed) await renderMachinePages(store, site, machine); // no index changes, only the pages
  return { machine, id, changed };
}

export async function noteBuild(store: Store, site: SiteSettings, machine: string, ref: string, text: string | null): Promise<MarkResult> {
  const id = resolveBuildRef(await mustState(store, machine), ref);
  let changed = false;
  await updateState(store, machine, (s) => {
    changed = text === null ? id in s.notes : s.notes[id] !== text;
    if (text === null) delete s.notes[id];
    else s.notes[id] = text;
    return changed;
  });
  if (changed) await renderMachinePages(store, site, machine);
  return { machine, id, changed };
}
