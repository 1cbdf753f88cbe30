/**
 * The rsync export benchmark (issue 5), on a store holding builds 1..3 of one machine:
 *   export of N+1 after N, no idle generation (a complete new tree)  vs  rsync -a --link-dest=<N> <N+1> <new>
 *   export of N+1 after N in the steady state (a diff onto the generation idle since N-1)
 *   bytes a Portage client transfers for N → N+1  vs  the bytes of the files that changed
 */
import { spawn, spawnSync } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { decodeTree } from '../../src/records/tree-manifest.js';

export interface Measure {
  seconds: number;
  peakRssMb: number;
}

type MeasureFn = (command: string) => Measure;

const PORTAGE_RSYNC = '--recursive --links --safe-links --perms --times --omit-dir-times --compress --force --whole-file --delete --stats --timeout=180 --exclude=/distfiles --exclude=/local --exclude=/packages --exclude=/.git';

function sh(command: string): string {
  const r = spawnSync('sh', ['-c', command], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${command}\n${r.stderr}`);
  return r.stdout;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Files whose content differs between two stored tree manifests, and their bytes in the new one. */
function changedBytes(store: string, a: string, b: string): { files: number; bytes: number } {
  const read = (sha: string) =>
    new Map(
      decodeTree(readFileSync(join(store, 'trees', sha.slice(0, 2), `${sha}.json.gz`)))
        .filter((e) => e.type === 'f')
        .map((e) => [e.path, { sha: e.sha256, size: e.size }]),
    );
  const before = read(a);
  let files = 0;
  let bytes = 0;
  for (const [path, f] of read(b)) {
    if (before.get(path)?.sha !== f.sha) {
      files++;
      bytes += f.size;
    }
  }
  return { files, bytes };
}

export async function benchExport(gbp: string, store: string, machine: string, archives: string[], work: string, measure: MeasureFn) {
  const dest = join(work, 'export');
  const client = join(work, 'client');
  const ref = join(work, 'ref');
  for (const d of [dest, client, ref]) rmSync(d, { recursive: true, force: true });
  mkdirSync(client, { recursive: true });
  mkdirSync(ref, { recursive: true });
  const g = (args: string) => sh(`${gbp} --quiet --store ${store} ${args}`);
  const treeOf = (id: number) => JSON.parse(readFileSync(join(store, 'builds', machine, String(id), 'build.json'), 'utf8')).trees['repos/gentoo'].manifest as string;

  // the reference: build N's tree as exported, N+1 extracted, then rsync --link-dest into a new tree
  g(`publish ${machine} 2`);
  g(`export-rsync --dest ${dest} --grace 0`);
  const state = JSON.parse(readFileSync(join(dest, '.gbp-export/state.json'), 'utf8'));
  const nTree = join(dest, 'repos', state.modules.repos.current, machine, 'gentoo');
  sh(`tar -xf ${archives[2]} -C ${ref} repos/gentoo`);
  const linkDest = measure(`rsync -a --link-dest=${nTree} ${ref}/repos/gentoo/ ${ref}/new/`);
  rmSync(ref, { recursive: true, force: true });

  // a client holding N
  const port = await freePort();
  const daemon = spawn('rsync', ['--daemon', '--no-detach', `--config=${join(dest, 'rsyncd.conf')}`, `--port=${port}`, '--address=127.0.0.1', '-M', 'pid file=', '-M', 'uid=root', '-M', 'gid=root'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((r) => {
      const c = createConnection(port, '127.0.0.1', () => (c.destroy(), r(true)));
      c.on('error', () => r(false));
    });
    if (up) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const url = `rsync://127.0.0.1:${port}/repos/${machine}/gentoo/`;
  try {
    sh(`rsync ${PORTAGE_RSYNC} ${url} ${client}/`);

    // worst case: N+1 right after N, no idle generation, so a complete new tree is linked
    g(`publish ${machine} 3`);
    const full = measure(`${gbp} --quiet --store ${store} export-rsync --dest ${dest} --grace 3600`);
    const stats = sh(`rsync ${PORTAGE_RSYNC} ${url} ${client}/`);
    const num = (re: RegExp) => Number(re.exec(stats)?.[1]?.replace(/,/g, '') ?? NaN);
    const transferredFiles = num(/Number of regular files transferred: ([\d,]+)/);
    const transferredBytes = num(/Total transferred file size: ([\d,]+)/);
    const wireBytes = num(/Total bytes received: ([\d,]+)/);
    const changed = changedBytes(store, treeOf(2), treeOf(3));

    // a rollback: N published again, the client holding N+1 syncs back (the served timestamp.chk
    // is a newer stamp, so Portage accepts it; served-timestamp.ts)
    g(`publish ${machine} 2`);
    g(`export-rsync --dest ${dest} --grace 3600`);
    const back = sh(`rsync ${PORTAGE_RSYNC} ${url} ${client}/`);
    const numBack = (re: RegExp) => Number(re.exec(back)?.[1]?.replace(/,/g, '') ?? NaN);
    const changedBack = changedBytes(store, treeOf(3), treeOf(2));
    const rollback = {
      transferredFiles: numBack(/Number of regular files transferred: ([\d,]+)/),
      transferredBytes: numBack(/Total transferred file size: ([\d,]+)/),
      changedFiles: changedBack.files,
      changedBytes: changedBack.bytes,
      ratio: numBack(/Total transferred file size: ([\d,]+)/) / changedBack.bytes,
    };

    // steady state: publishes hours apart, so the generation retired one publish ago is idle.
    // N-1 (build 1) in one generation, N (build 2) current, then N+1 (build 3) as a diff onto N-1's.
    rmSync(dest, { recursive: true, force: true });
    g(`publish ${machine} 1`);
    g(`export-rsync --dest ${dest} --grace 0`);
    g(`publish ${machine} 2`);
    g(`export-rsync --dest ${dest} --grace 0`);
    g(`publish ${machine} 3`);
    const steady = measure(`${gbp} --quiet --store ${store} export-rsync --dest ${dest} --grace 0`);
    return {
      linkDest,
      full: { ...full, ratio: full.seconds / linkDest.seconds },
      steady: { ...steady, ratio: steady.seconds / linkDest.seconds },
      client: { transferredFiles, transferredBytes, wireBytes, changedFiles: changed.files, changedBytes: changed.bytes, ratio: transferredBytes / changed.bytes },
      rollback,
    };
  } finally {
    daemon.kill();
  }
}
