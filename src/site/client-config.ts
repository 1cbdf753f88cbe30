/**
 * What a client machine puts in /etc/portage to use a published build: a binrepos.conf section
 * (packages over HTTP) and a repos.conf section per ebuild repository (the rsync export). For a
 * tag, the same pointing at the tag's index and `<machine>@<tag>`. `verify-signature` says what
 * is true of the build's packages, with the reason: Portage ≥ 3.0.78 verifies by default and
 * refuses an unsigned package, and XPAK packages cannot be signed at all.
 */
import type { BuildManifest } from '../build/build-manifest.js';
import type { SiteSettings } from '../store/site.js';

/** Where clients sync repositories from: the site's rsync URL, else the base URL's host. */
export function rsyncBase(site: SiteSettings): string {
  return site.rsyncUrl ?? `rsync://${new URL(site.baseUrl).hostname}`;
}

export function binreposConf(site: SiteSettings, build: BuildManifest, tag?: string): string {
  const name = tag ? `${build.machine}-${tag}` : build.machine;
  const dir = tag ? `tags/${tag}/binpkgs` : 'binpkgs';
  const packages = build.binpkgs.packages;
  const unsigned = packages.filter((p) => !p.signed);
  const verify = packages.length > 0 && unsigned.length === 0;
  const reason = verify
    ? `every package of build ${build.id} is a signed GPKG: import the signing key into /etc/portage/gnupg`
    : packages.length === 0
      ? `build ${build.id} has no packages`
      : `${unsigned.length} of ${packages.length} packages of build ${build.id} are unsigned${unsigned.some((p) => p.format === 'xpak') ? ' (XPAK cannot be signed)' : ''}: a verifying client would refuse them`;
  return [
    `# ${build.machine}${tag ? ` @${tag}` : ''}: binary packages from Gentoo Build Publisher (build ${build.id} when written)`,
    `[${name}]`,
    `sync-uri = ${site.baseUrl}/machines/${build.machine}/${dir}`,
    'priority = 10',
    `# ${reason}`,
    `verify-signature = ${verify}`,
    `location = /var/cache/binhost/${name}`,
    '',
  ].join('\n');
}

export function reposConf(site: SiteSettings, build: BuildManifest, tag?: string): string {
  const who = tag ? `${build.machine}@${tag}` : build.machine;
  const repos = Object.keys(build.trees).filter((t) => t.startsWith('repos/')).map((t) => t.slice('repos/'.length)).sort();
  const lines = [`# ${who}: ebuild repositories matching its binary packages (gbp export-rsync)`];
  for (const repo of repos) {
    lines.push(`[${repo}]`, `location = /var/db/repos/${repo}`, 'sync-type = rsync', `sync-uri = ${rsyncBase(site)}/repos/${who}/${repo}`, '');
  }
  return `${lines.join('\n')}\n`.replace(/\n\n$/, '\n');
}
