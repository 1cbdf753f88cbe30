/**
 * Real Portage 3.0.82 (../shared/clients/portage) as a client: a fake root made by Portage's own
 * test harness, and `emerge` run in it (test/helpers/portage_client.py does the Python side).
 * The repos.conf and binrepos.conf are gbp's own, with only `location` pointed into the root.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SHARED } from './shared.js';

export const PORTAGE = join(SHARED, 'clients/portage');
const DRIVER = resolve(__dirname, 'portage_client.py');

/** PATH with `gtar` (Portage calls GNU tar by that name). */
function toolPath(): string {
  const bin = mkdtempSync(join(tmpdir(), 'gbp-portage-bin-'));
  symlinkSync('/usr/bin/tar', join(bin, 'gtar'));
  return `${bin}:${process.env.PATH}`;
}

export interface Emerge {
  code: number;
  output: string;
}

export class PortageClient {
  private readonly path = toolPath();

  private eprefixOf: string | null = null;

  private constructor(
    readonly root: string,
    private readonly gnupgSteps?: string[],
  ) {}

  get eprefix(): string {
    return this.eprefixOf!;
  }

  /**
   * A fresh client. Its /etc/portage/gnupg holds Portage's test key, trusted, unless `gnupgSteps`
   * are given: then it starts empty and those shell lines (as `gbp client-config` prints them,
   * with their `/etc/portage/gnupg`) set it up, as an admin would.
   */
  static async create(o: { gnupgSteps?: string[] } = {}): Promise<PortageClient> {
    const root = mkdtempSync(join(tmpdir(), 'gbp-portage-'));
    chmodSync(root, 0o755); // Portage verifies signatures as nobody, who must reach the keyring
    const client = new PortageClient(root, o.gnupgSteps);
    const r = await client.python(['init', root]);
    if (r.code !== 0) throw new Error(`Portage's test harness failed:\n${r.output}`);
    client.eprefixOf = JSON.parse(r.stdout.trim().split('\n').pop()!).eprefix;
    return client;
  }

  /** gbp's repos.conf or binrepos.conf text with every `location` moved into the fake root. */
  localise(conf: string): string {
    return conf.replace(/^location = (\/.*)$/gm, (_, p: string) => `location = ${join(this.eprefix, p)}`);
  }

  /** `emerge ARGS` with these configuration files (as gbp wrote them, localised here). */
  emerge(args: string[], conf: { repos?: string; binrepos?: string } = {}): Promise<Emerge> {
    const dir = mkdtempSync(join(tmpdir(), 'gbp-portage-conf-'));
    const file = (name: string, text?: string) => {
      if (text === undefined) return '-';
      writeFileSync(join(dir, name), this.localise(text));
      return join(dir, name);
    };
    return this.python(['emerge', this.root, file('repos.conf', conf.repos), file('binrepos.conf', conf.binrepos), '--', ...args]);
  }

  /** Where a repository lands on this client. */
  repoDir(repo: string): string {
    const d = join(this.eprefix, 'var/db/repos', repo);
    mkdirSync(join(this.eprefix, 'var/db/repos'), { recursive: true });
    return d;
  }

  /**
   * The Python side, as a child process the test waits for without blocking its event loop: a
   * harness setup and two emerges in a row take a minute, and vitest's worker must keep talking
   * to its runner meanwhile (it gives up after 60 s: "Timeout calling onTaskUpdate").
   */
  private python(args: string[]): Promise<Emerge & { stdout: string }> {
    return new Promise((resolvePromise, reject) => {
      const child = spawn('python3', [DRIVER, ...args], {
        env: { ...process.env, GBP_PORTAGE: PORTAGE, PATH: this.path, PYTHONDONTWRITEBYTECODE: '1', ...(this.gnupgSteps ? { GBP_GNUPG_STEPS: JSON.stringify(this.gnupgSteps) } : {}) },
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 300_000,
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => err.push(c));
      child.on('error', reject);
      child.on('close', (code) => {
        const stdout = Buffer.concat(out).toString('utf8');
        resolvePromise({ code: code ?? -1, output: `${stdout}${Buffer.concat(err).toString('utf8')}`, stdout });
      });
    });
  }
}

/**
 * The counts rsync's --stats printed for the tree in an emerge --sync run: the last of them, since
 * Portage first fetches metadata/timestamp.chk alone with the same options.
 */
export function rsyncStats(output: string): { transferred: number; deleted: number } {
  const num = (re: RegExp) => Number([...output.matchAll(re)].at(-1)?.[1]?.replace(/,/g, '') ?? NaN);
  return { transferred: num(/Number of regular files transferred: ([\d,]+)/g), deleted: num(/Number of deleted files: ([\d,]+)/g) };
}
