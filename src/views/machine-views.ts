/**
 * The per-machine published views, derived from state.json + build.json (invariant 3):
 * machines/<m>/binpkgs/Packages(.gz) for the published build and machines/<m>/tags/<t>/binpkgs/
 * for each tag. The switch a client sees is one atomic write of `Packages.gz`, the file every
 * client since Portage 3.0.69 reads (it falls back to `Packages` only on 404); `Packages` is
 * written just before it with the same content and TIMESTAMP (invariant 2).
 * TIMESTAMP rises on every change of what a URL serves, a rollback too (records/index-pair.ts).
 */
import { requireBuild, signerCounts } from '../records/build-manifest.js';
import { binreposConf, reposConf, type ReposPurpose } from './client-config.js';
import { renderMachinePages } from './pages.js';
import { writePublishedArtifacts } from './artifact-views.js';
import { keys } from '../store/keys.js';
import { writeIndexFor } from '../records/index-pair.js';
import type { SiteSettings } from '../store/site.js';
import type { Store } from '../store/store.js';
import { readState, type MachineState } from '../records/machine-state.js';

/** Makes `dir` serve build `id`'s index (records/index-pair.ts); false when it already did. */
export async function writeIndexView(store: Store, site: SiteSettings, dir: string, machine: string, id: string): Promise<boolean> {
  return writeIndexFor(store, site, dir, await requireBuild(store, machine, id));
}

/**
 * binrepos.conf and repos.conf beside the index, rewritten only when they change; for a build
 * whose signatures were checked, keys.asc too: the keys that signed its packages, what a client
 * of this machine (or tag) imports.
 */
async function writeClientConfig(store: Store, site: SiteSettings, dir: string, state: MachineState, id: string, tag?: string): Promise<void> {
  const build = await requireBuild(store, state.machine, id);
  const files: [string, string | Buffer, string][] = [
    ['binrepos.conf', binreposConf(site, build, tag), 'text/plain; charset=utf-8'],
    ['repos.conf', reposConf(site, build, tag, reposPurpose(state, id, tag)), 'text/plain; charset=utf-8'],
  ];
  if (build.binpkgs.trustedKeys) {
    const parts: Buffer[] = [];
    for (const fpr of signerCounts(build.binpkgs.packages).keys()) {
      const key = await store.get(keys.trustedKey(fpr));
      if (key) parts.push(key);
    }
    if (parts.length) files.push([MACHINE_KEYS, Buffer.concat(parts), 'application/pgp-keys']);
    else await store.delete(`${dir}${MACHINE_KEYS}`);
  }
  await Promise.all(
    files.map(async ([name, data, contentType]) => {
      const have = await store.get(`${dir}${name}`);
      if (!have || !have.equals(Buffer.from(data))) await store.put(`${dir}${name}`, data, { contentType });
    }),
  );
}

/** Beside a machine's (or tag's) binrepos.conf: the public keys that signed its packages. */
export const MACHINE_KEYS = 'keys.asc';

/** A tag, the machine's newest build, or an older one published (a rollback). */
export function reposPurpose(state: MachineState, id: string, tag?: string): ReposPurpose {
  if (tag) return 'tag';
  return state.builds.at(-1)?.id === id ? 'newest' : 'rollback';
}

export interface RefreshOptions {
  /** A store holding this machine's package pages for the same builds (sync's source). */
  pagesFrom?: Store;
  /** The state as its writer just stored it (updateState's answer): not read back. */
  state?: MachineState;
}

const viewKey = (s: MachineState) => JSON.stringify([s.published, Object.entries(s.tags).sort()]);

/**
 * Brings the machine's views in line with its state. Re-reads the state afterwards and repeats if
 * another publisher changed it meanwhile, so the last writer always leaves views matching the state.
 * The pages go beside the views: they read the state themselves and nothing the views write.
 */
export async function refreshMachineViews(store: Store, site: SiteSettings, machine: string, opts: RefreshOptions = {}): Promise<void> {
  for (let round = 0; round < 5; round++) {
    const state = round === 0 && opts.state ? opts.state : await readState(store, machine);
    if (!state) return;
    // each view's index before its client configuration; the views themselves side by side
    const published = async () => {
      if (!state.published) return removePublishedViews(store, machine);
      await writeIndexView(store, site, keys.machineBinpkgs(machine), machine, state.published);
      await writeClientConfig(store, site, `machines/${machine}/`, state, state.published);
    };
    const tagged = Object.entries(state.tags).map(async ([tag, id]) => {
      await writeIndexView(store, site, keys.tagBinpkgs(machine, tag), machine, id);
      await writeClientConfig(store, site, `machines/${machine}/tags/${tag}/`, state, id, tag);
    });
    await Promise.all([published(), ...tagged, removeStaleTagViews(store, machine, state), writePublishedArtifacts(store, machine, state.published), renderMachinePages(store, site, machine, { pagesFrom: opts.pagesFrom, state })]);
    const after = await readState(store, machine);
    if (after && viewKey(after) === viewKey(state)) return;
  }
}

/**
 * A machine that publishes nothing (its published build deleted) serves nothing: its index and
 * client configuration answer 404, never a build it no longer has. Packages.gz first: a client
 * falls back from it to Packages.
 */
async function removePublishedViews(store: Store, machine: string): Promise<void> {
  for (const name of ['binpkgs/Packages.gz', 'binpkgs/Packages', 'binrepos.conf', 'repos.conf', MACHINE_KEYS]) await store.delete(`machines/${machine}/${name}`);
}

/** A removed tag's index goes, so clients of `<m>@<tag>` get a 404, not a frozen build. */
async function removeStaleTagViews(store: Store, machine: string, state: MachineState): Promise<void> {
  const prefix = `machines/${machine}/tags/`;
  for await (const key of store.list(prefix)) {
    const tag = key.slice(prefix.length).split('/')[0];
    if (!(tag in state.tags)) await store.delete(key);
  }
}
