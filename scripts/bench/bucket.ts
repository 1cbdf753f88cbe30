/**
 * `--only bucket` (issue 13): a Jenkins agent with no local state publishing straight into a
 * bucket, against what the same machine does with a local store, in the same run:
 *   direct pull of build 1, then build 2, into the test Ceph RGW
 *   vs  the local pull of the same archive, and the local pull + `gbp sync` to another bucket.
 * Each with wall time and peak RSS; the direct pulls also with their requests by kind (gbp's own
 * --json report). Goal: direct ≤ 1.3× (local pull + sync).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { rcloneEnv, rgwEnv } from './s3.js';

interface Measure {
  seconds: number;
  peakRssMb: number;
}
type Measurer = (command: string, env?: NodeJS.ProcessEnv) => Measure;

interface BuildRow {
  build: string;
  direct: Measure & { requests: Record<string, number>; bytesSent: number; newPackages: number; newFiles: number };
  localPull: Measure;
  sync: Measure;
  vsLocalPull: number;
  vsLocalPullAndSync: number;
}

export async function benchBucket(opts: { root: string; gbp: string; work: string; machine: string; archives: [string, string]; measure: Measurer; runs: number }) {
  const { root, gbp, work, machine, measure } = opts;
  const { env, stop } = rgwEnv(root);
  try {
    const all: NodeJS.ProcessEnv = { ...process.env, ...env, ...rcloneEnv(env) };
    delete all.AWS_CA_BUNDLE; // rclone's transport refuses it; the test server is plain HTTP
    const rclone = (args: string) => {
      const r = spawnSync('sh', ['-c', `rclone ${args}`], { env: all, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`rclone ${args} failed:\n${r.stderr.slice(-2000)}`);
    };
    const local = join(work, 'bucket-local');
    const report = join(work, 'bucket-pull.json');
    const runs: BuildRow[][] = [];
    for (let run = 0; run < opts.runs; run++) {
      const id = randomBytes(4).toString('hex');
      const direct = `bench-direct-${id}`;
      const synced = `bench-synced-${id}`;
      rclone(`mkdir bench:${direct}`);
      rclone(`mkdir bench:${synced}`);
      rmSync(local, { recursive: true, force: true });
      const builds: BuildRow[] = [];
      for (const [i, archive] of opts.archives.entries()) {
        const b = String(i + 1);
        const pull = (store: string) => `${gbp} --quiet --json --store ${store} pull ${archive} -m ${machine} -b ${b} --publish > ${report}`;
        const localPull = measure(pull(local), all);
        const sync = measure(`${gbp} --quiet --json sync ${local} s3://${synced}/gbp > /dev/null`, all);
        const directPull = measure(pull(`s3://${direct}/gbp`), all);
        const r = JSON.parse(readFileSync(report, 'utf8'));
        builds.push({
          build: b,
          direct: { ...directPull, requests: r.traffic.requests, bytesSent: r.traffic.bytesSent, newPackages: r.packages.new, newFiles: r.trees.newFiles },
          localPull,
          sync,
          vsLocalPull: directPull.seconds / localPull.seconds,
          vsLocalPullAndSync: directPull.seconds / (localPull.seconds + sync.seconds),
        });
      }
      runs.push(builds);
      for (const b of [direct, synced]) rclone(`purge bench:${b}`);
    }
    // the median run of each build, by the direct pull's time
    const median = opts.archives.map((_, i) => [...runs.map((r) => r[i])].sort((a, b) => a.direct.seconds - b.direct.seconds)[Math.floor(runs.length / 2)]);
    return { first: median[0], next: median[1], runs: runs.length };
  } finally {
    stop();
  }
}
