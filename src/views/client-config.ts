/**
 * What a client machine puts in /etc/portage to use a published build: a binrepos.conf section
 * (packages over HTTP) and a repos.conf section per ebuild repository (the rsync export). For a
 * tag, the same pointing at the tag's index and `<machine>@<tag>`. `verify-signature` says what
 * is true of the build's packages, with the reason: Portage ≥ 3.0.78 verifies by default and
 * refuses an unsigned package, and XPAK packages cannot be signed at all.
 */
import { signerCounts, type BuildManifest } from '../records/build-manifest.js';
import type { SiteSettings } from '../store/site.js';

/** Where clients sync repositories from: the site's rsync URL, else the base URL's host. */
export function rsyncBase(site: SiteSettings): string {
  return site.rsyncUrl ?? `rsync://${new URL(site.baseUrl).hostname}`;
}

/** A machine's (or its tag's) name for its binrepos section and both files: `<m>` or `<m>-<tag>`. */
export const clientConfigName = (machine: string, tag?: string) => (tag ? `${machine}-${tag}` : machine);

export function binreposConf(site: SiteSettings, build: BuildManifest, tag?: string): string {
  const name = clientConfigName(build.machine, tag);
  const dir = tag ? `tags/${tag}/binpkgs` : 'binpkgs';
  const { verify, reason } = signatureVerdict(build);
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

/**
 * Whether clients should verify, and why. A build whose signatures gbp checked is verifiable when
 * every package is signed by a key the site trusted; one pulled without keys, when every package
 * is at least signed (the client's own keyring then decides).
 */
export function signatureVerdict(build: BuildManifest): { verify: boolean; reason: string } {
  const packages = build.binpkgs.packages;
  if (!packages.length) return { verify: false, reason: `build ${build.id} has no packages` };
  if (build.binpkgs.trustedKeys) {
    const unvouched = packages.filter((p) => !p.signer);
    if (!unvouched.length) {
      const signers = [...signerCounts(packages).keys()].map((f) => f.slice(-16)).sort().join(', ');
      return { verify: true, reason: `every package of build ${build.id} is signed by a key this site trusts (${signers}): import them as shown by 'gbp client-config'` };
    }
    return { verify: false, reason: `${unvouched.length} of ${packages.length} packages of build ${build.id} are not signed by a key this site trusts (published by its policy): a verifying client would refuse them` };
  }
  const unsigned = packages.filter((p) => !p.signed);
  if (!unsigned.length) return { verify: true, reason: `every package of build ${build.id} is a signed GPKG: import the signing key into /etc/portage/gnupg` };
  return {
    verify: false,
    reason: `${unsigned.length} of ${packages.length} packages of build ${build.id} are unsigned${unsigned.some((p) => p.format === 'xpak') ? ' (XPAK cannot be signed)' : ''}: a verifying client would refuse them`,
  };
}

/**
 * The shell steps that make a client trust the keys that signed its packages, as Portage verifies
 * (TRUST_ULTIMATE or TRUST_FULLY). `keysUrl`: the machine's (or tag's) keys.asc.
 */
export function trustSteps(keysUrl: string, fingerprints: string[]): string[] {
  if (!fingerprints.length) return [];
  return [
    `# Trust the keys that signed these packages (${keysUrl}), once, as root:`,
    `#   wget -qO /tmp/gbp-keys.asc ${keysUrl}`,
    '#   gpg --homedir /etc/portage/gnupg --batch --import /tmp/gbp-keys.asc',
    ...fingerprints.map((f) => `#   echo ${f}:6: | gpg --homedir /etc/portage/gnupg --batch --import-ownertrust`),
    // Portage verifies with --no-auto-check-trustdb: the trust must be computed now, or it reads as undefined
    '#   gpg --homedir /etc/portage/gnupg --batch --check-trustdb',
    "# (on a machine set up with getuto, sign them with its local key instead: gpg --homedir /etc/portage/gnupg --quick-lsign-key FPR)",
  ];
}

/** What a repos.conf is for: the newest published build, an older one published (a rollback), or a tag. */
export type ReposPurpose = 'newest' | 'rollback' | 'tag';

/** Where a machine's files go on the client; `gbp client-config` and the README name them so. */
export const binreposConfPath = (name: string) => `/etc/portage/binrepos.conf/${name}.conf`;
export const reposConfPath = (name: string) => `/etc/portage/repos.conf/gbp-${name}.conf`;

/**
 * One section per ebuild repository of the build, with the verification Portage's defaults would
 * get wrong said out loud: `[gentoo]` defaults to a verified, at most 3-day-old signed Manifest
 * (cnf/repos.conf), and a user's section only overrides the keys it names.
 */
export function reposConf(site: SiteSettings, build: BuildManifest, tag?: string, purpose: ReposPurpose = tag ? 'tag' : 'newest'): string {
  const who = tag ? `${build.machine}@${tag}` : build.machine;
  const name = clientConfigName(build.machine, tag);
  const repos = Object.keys(build.trees).filter((t) => t.startsWith('repos/')).sort();
  const lines = [
    `# ${who}: ebuild repositories matching its binary packages (gbp export-rsync), build ${build.id} when written.`,
    `# Put this at ${reposConfPath(name)}. It sets how these repositories sync: remove their sync`,
    '# settings from other files there (the Handbook\'s gentoo.conf sorts after this one and would win).',
  ];
  for (const tree of repos) {
    const repo = tree.slice('repos/'.length);
    const signed = build.trees[tree].signedManifest;
    lines.push('', `[${repo}]`, `location = /var/db/repos/${repo}`, 'sync-type = rsync', `sync-uri = ${rsyncBase(site)}/repos/${who}/${repo}`);
    if (signed === true) {
      lines.push('# the tree carries a signed top-level Manifest: Portage verifies it (app-portage/gemato)', 'sync-rsync-verify-metamanifest = yes');
      if (purpose === 'newest') lines.push("# the machine's newest build: Portage's 3-day age warning stays meaningful");
      else {
        lines.push(
          purpose === 'tag' ? `# a pinned build (@${tag}): its Manifest grows old on purpose, so no age warning` : `# a rollback to build ${build.id}: its Manifest is older on purpose, so no age warning`,
          'sync-rsync-verify-max-age = 0',
        );
      }
    } else {
      lines.push(
        signed === false
          ? '# no signed top-level Manifest in this tree (a repository job built it): verification would refuse it'
          : '# stored before gbp recorded Manifest signatures: verification is left off (set yes for a signed tree)',
        'sync-rsync-verify-metamanifest = no',
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
