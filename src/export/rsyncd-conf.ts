/**
 * The rsync daemon configuration for an export: three read-only modules, each pointing at the
 * generation it serves now. The daemon re-reads this file for every connection, so replacing it
 * (one rename) is what switches clients to a new export; transfers in flight keep the path they
 * started with. A module with nothing published yet points at an empty directory.
 */
import { join } from 'node:path';

export const MODULES = ['repos', 'etc-portage', 'var-lib-portage'] as const;
export type Module = (typeof MODULES)[number];

const COMMENTS: Record<Module, string> = {
  repos: 'ebuild repositories of published builds: <machine>/<repo>, <machine>@<tag>/<repo>',
  'etc-portage': "machines' /etc/portage: <machine>, <machine>@<tag>",
  'var-lib-portage': "machines' /var/lib/portage (world): <machine>, <machine>@<tag>",
};

export function rsyncdConf(dest: string, paths: Record<Module, string | null>): string {
  const lines = [
    '# Written by `gbp export-rsync`; replaced on every export that changes a tree.',
    `# Run: rsync --daemon --config=${join(dest, 'rsyncd.conf')}`,
    'use chroot = no',
    'read only = yes',
    'list = yes',
    'timeout = 600',
    '',
  ];
  for (const m of MODULES) {
    lines.push(`[${m}]`, `    path = ${paths[m] ?? join(dest, '.gbp-export', 'empty')}`, `    comment = ${COMMENTS[m]}`, '');
  }
  return lines.join('\n');
}
