/**
 * What every command of the CLI shares: the program and its global options, how they open the
 * store and its settings, and how results are printed. Command groups live in files of their own
 * beside main.ts and register on `program`.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { openExistingStore, openStore, DEFAULT_STORE_DIR } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { loadSite } from '../store/site.js';
import { projectFile } from '../util/project-file.js';

export interface GlobalOptions {
  store?: string;
  baseUrl?: string;
  rsyncUrl?: string;
  s3Endpoint?: string;
  s3Region?: string;
  s3VirtualHosted?: boolean;
  json?: boolean;
  quiet?: boolean;
  siteKey?: string;
}

/** The package's version, read when asked (`--version`), not on every command's start. */
export function gbpVersion(): string {
  const packageJson = projectFile('package.json');
  return packageJson ? (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version : 'unknown';
}

export const program = new Command();
program
  .name('gbp')
  .option('-V, --version', "print gbp's version")
  .description(
    'Gentoo Build Publisher: turn CI build archives into binary package hosts that\n' +
      'emerge --getbinpkg can use, with every build kept, browsable, and publishable.',
  )
  .option('--store <dir|s3-url>', `the store: a directory or s3://<bucket>/<prefix> (env GBP_STORE; default ./${DEFAULT_STORE_DIR})`)
  .option('--s3-endpoint <url>', 'S3 endpoint for s3:// stores (env GBP_S3_ENDPOINT or AWS_ENDPOINT_URL; default AWS)')
  .option('--s3-region <region>', 'S3 region (env GBP_S3_REGION or AWS_REGION; default us-east-1)')
  .option('--s3-virtual-hosted', 'virtual-hosted bucket addressing (default: path-style when an endpoint is set)')
  .option('--base-url <url>', 'public URL the store is served at; remembered in site.json (env GBP_BASE_URL)')
  .option('--rsync-url <url>', 'rsync://host[:port] the export is served at (default: the base URL host); remembered')
  .option('--site-key <file>', 'the site secret key build records are signed with (env GBP_SITE_KEY; see gbp site-key)')
  .option('--json', 'print one JSON document on stdout instead of text')
  .option('-q, --quiet', 'no progress output')
  .showHelpAfterError()
  .addHelpText(
    'after',
    `
Exit codes: 0 ok, 1 internal error, 2 usage, 3 invalid archive, 4 conflict,
5 not found, 6 store error, 7 input error (archive source, Jenkins, a hook), 8 fsck found damage,
9 a build record no trusted site key signed.

Example:
  gbp --store /srv/binhost --base-url https://binhost.example.org \\
      pull build.tar.gz --machine database --build 42 --publish`,
  );

export const globals = (): GlobalOptions => program.opts<GlobalOptions>();
/** The store named by the global options (credentials come from the standard AWS environment). */
export const s3Flags = (g: GlobalOptions) => ({ endpoint: g.s3Endpoint, region: g.s3Region, pathStyle: g.s3VirtualHosted ? false : undefined });
export const openGlobalStore = (g: GlobalOptions): Promise<Store> => openExistingStore(g.store, s3Flags(g));
/** Only pull creates a store. */
export const openOrCreateGlobalStore = (g: GlobalOptions): Promise<Store> => openStore(g.store, s3Flags(g));
/** The store's settings, with --base-url / GBP_BASE_URL and --rsync-url applied. */
export const globalSite = (store: Store, g: GlobalOptions) => loadSite(store, g.baseUrl ?? process.env.GBP_BASE_URL, g.rsyncUrl);
export const print = (text: string): void => void process.stdout.write(`${text}\n`);
export const printJson = (data: unknown): void => void process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
