/**
 * A real rsync daemon on 127.0.0.1 serving an export with its generated rsyncd.conf, and the real
 * client run with exactly Portage's options (spec/portage-binhost.md §3).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { freePort } from './ports.js';

export const PORTAGE_RSYNC_OPTS = [
  '--recursive', '--links', '--safe-links', '--perms', '--times', '--omit-dir-times', '--compress', '--force',
  '--whole-file', '--delete', '--stats', '--human-readable', '--timeout=180',
  '--exclude=/distfiles', '--exclude=/local', '--exclude=/packages', '--exclude=/.git',
];


export interface Daemon {
  url: string;
  stop(): Promise<void>;
}

export async function startRsyncDaemon(config: string): Promise<Daemon> {
  const port = await freePort();
  const child: ChildProcess = spawn('rsync', ['--daemon', '--no-detach', `--config=${config}`, `--port=${port}`, '--address=127.0.0.1', '-M', 'pid file=', '-M', 'uid=root', '-M', 'gid=root'], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const c = connect(port, '127.0.0.1', () => (c.destroy(), r(true)));
      c.on('error', () => r(false));
    });
    if (ok) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('rsync daemon did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `rsync://127.0.0.1:${port}`,
    stop: () => new Promise((r) => (child.exitCode !== null ? r() : (child.once('exit', () => r()), child.kill()))),
  };
}

export interface SyncResult {
  code: number;
  transferred: number;
  deleted: number;
  output: string;
}

/** `emerge --sync` as Portage runs rsync; returns its --stats counts. */
export function portageSync(url: string, dest: string, extra: string[] = []): SyncResult {
  extra = [...extra, '--itemize-changes'];
  const r = spawnSync('rsync', [...PORTAGE_RSYNC_OPTS, ...extra, url, `${dest}/`], { encoding: 'utf8' });
  const num = (re: RegExp) => Number(re.exec(r.stdout)?.[1]?.replace(/,/g, '') ?? NaN);
  return {
    code: r.status ?? -1,
    transferred: num(/Number of regular files transferred: ([\d,]+)/),
    deleted: num(/Number of deleted files: ([\d,]+)/),
    output: r.stdout + r.stderr,
  };
}

/** Starts a client in the background (for a flip during a transfer). */
export function portageSyncAsync(url: string, dest: string, extra: string[] = []): Promise<SyncResult> {
  return new Promise((resolve) => {
    const child = spawn('rsync', [...PORTAGE_RSYNC_OPTS, ...extra, url, `${dest}/`]);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => {
      const num = (re: RegExp) => Number(re.exec(out)?.[1]?.replace(/,/g, '') ?? NaN);
      resolve({ code: code ?? -1, transferred: num(/Number of regular files transferred: ([\d,]+)/), deleted: num(/Number of deleted files: ([\d,]+)/), output: out });
    });
  });
}
