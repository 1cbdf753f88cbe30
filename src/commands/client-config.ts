/** `gbp client-config`: the binrepos.conf and repos.conf text for a machine's published build or a tag. */
import { GbpError } from '../errors.js';
import { requireBuild, signerCounts } from '../records/build-manifest.js';
import type { SiteSettings } from '../store/site.js';
import type { Store } from '../store/store.js';
import { requireState } from '../records/machine-state.js';
import { binreposConf, binreposConfPath, clientConfigName, reposConf, reposConfPath, trustSteps } from '../views/client-config.js';
import { MACHINE_KEYS, reposPurpose } from '../views/machine-views.js';
import { assertName } from '../records/names.js';

export async function clientConfig(store: Store, site: SiteSettings, machine: string, tag?: string) {
  assertName('machine name', machine);
  const state = await requireState(store, machine);
  const id = tag ? state.tags[tag] : state.published;
  if (!id) throw new GbpError('not-found', tag ? `${machine} @${tag}` : machine, tag ? `${machine} has no tag '${tag}'` : `${machine} has no published build yet (gbp publish)`);
  const build = await requireBuild(store, machine, id);
  const name = clientConfigName(machine, tag);
  return {
    machine,
    tag: tag ?? null,
    build: id,
    name,
    binreposPath: binreposConfPath(name),
    reposPath: reposConfPath(name),
    binrepos: binreposConf(site, build, tag),
    /** The keys a client imports to verify (those that signed the build's packages). */
    trustSteps: trustSteps(`${site.baseUrl}/machines/${machine}/${tag ? `tags/${tag}/` : ''}${MACHINE_KEYS}`, [...signerCounts(build.binpkgs.packages).keys()]),
    repos: reposConf(site, build, tag, reposPurpose(state, id, tag)),
  };
}
