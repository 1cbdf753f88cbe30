/**
 * `gbp serve` against nginx (Debian, default worker_processes auto, sendfile on) serving the same
 * store directory: wrk downloads of one median-sized package (about 512 KB), alternating the two
 * servers, median of the runs. Goal (issue 4): at least 0.7× nginx's requests per second.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

function wrk(url: string): number {
  const r = spawnSync('wrk', ['-t2', '-c32', '-d10s', url], { encoding: 'utf8' });
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? NaN);
}

export async function benchServe(gbp: string, store: string, work: string, runs: number) {
  const blobs = join(store, 'blobs');
  const file = readdirSync(blobs, { recursive: true })
    .map((p) => join(blobs, String(p)))
    .filter((p) => p.endsWith('.gpkg.tar'))
    .map((p) => ({ p, size: statSync(p).size }))
    .sort((a, b) => a.size - b.size)
    .find((f) => f.size >= 400_000)!;
  const path = relative(store, file.p);
  const dir = join(work, 'nginx');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes auto;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents { worker_connections 1024; }\n` +
      `http { access_log off; sendfile on; server { listen 127.0.0.1:18090; root ${store}; } }\n`,
  );
  spawnSync('nginx', ['-c', join(dir, 'nginx.conf')]);
  const gbpServer = spawn(gbp, ['--quiet', '--store', store, 'serve', '--port', '18091'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 1500));
  try {
    const nginx: number[] = [];
    const ours: number[] = [];
    for (let i = 0; i < runs; i++) {
      nginx.push(wrk(`http://127.0.0.1:18090/${path}`));
      ours.push(wrk(`http://127.0.0.1:18091/${path}`));
    }
    return { file: path, size: file.size, nginx: median(nginx), gbp: median(ours), ratio: median(ours) / median(nginx), runs: { nginx, gbp: ours } };
  } finally {
    spawnSync('nginx', ['-c', join(dir, 'nginx.conf'), '-s', 'stop']);
    gbpServer.kill('SIGTERM');
  }
}
