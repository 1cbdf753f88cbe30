/**
 * `npm run bench`: measures the main job on the medium fixture against references measured in the
 * same run on the same machine, and prints ratios (never asserted in tests):
 *   first pull        vs  GNU `tar -xf` of the same archive into an empty directory
 *   next build's pull vs  `gzip -dc archive > /dev/null` (the decompression floor)
 * plus each one's peak RSS. Each figure is the median of --runs runs (default 3), page cache warm.
 * Goals (issue 2): first ≤ 1.2× tar, incremental ≤ 1.5× floor, peak RSS ≤ 300 MB.
 * Then the rsync export (issue 5, scripts/bench/export.ts): export of N+1 after N against
 * `rsync -a --link-dest`, goal ≤ 0.5×; bytes a client transfers against the changed bytes, ≤ 1.1×.
 *
 * Usage: npm run bench -- [--size medium|small] [--payload-scale F] [--runs N] [--work DIR] [--json]
 *        npm run bench -- --only export     (the export alone, on the store a full run left)
 *        npm run bench -- --only serve      (gbp serve vs nginx with wrk; needs nginx and wrk)
 *        npm run bench -- --only s3 [--skip-plain]   (gbp sync vs rclone sync to the test Ceph RGW, --runs times: medians)
 *        npm run bench -- --only bucket [--shape desktop]   (pulls straight into the test RGW vs local pull + sync)
 *        npm run bench -- --only growth [--builds 2000] [--machines 50] [--machine-builds 20]
 *                                           (a store growing to thousands of builds, small fixture)
 * --shape desktop: the medium fixture shaped as a desktop (950 packages with the measured giants,
 * fresh checkout mtimes on every repository file), generated once into --work.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchExport } from './export.js';
import { benchS3 } from './s3.js';
import { benchBucket } from './bucket.js';
import { benchServe } from './serve.js';
import { benchGrowth } from './growth.js';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(here, '../../..');
/** Run as users run `gbp` (npm link): the executable, whose first line sets node's flags. */
const GBP = join(ROOT, 'dist/src/cli/main.js');
const GENERATE = join(ROOT, 'dist/scripts/fixtures/generate.js');

interface Measure {
  seconds: number;
  peakRssMb: number;
}

/** Runs a shell command under GNU time; returns wall seconds and peak RSS of the process tree's largest member. */
function measure(command: string, env: NodeJS.ProcessEnv = process.env): Measure {
  spawnSync('sync'); // untimed: no step pays for the previous one's writeback
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', 'sh', '-c', command], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`${command} failed:\n${r.stderr}`);
  const last = r.stderr.trim().split('\n').pop()!.split(' ');
  return { seconds: Number(last[0]), peakRssMb: Number(last[1]) / 1024 };
}

function median(xs: Measure[]): Measure {
  const by = (k: keyof Measure) => [...xs].sort((a, b) => a[k] - b[k])[Math.floor(xs.length / 2)][k];
  return { seconds: by('seconds'), peakRssMb: Math.max(...xs.map((x) => x.peakRssMb)) };
}

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

async function main(): Promise<void> {
  const size = arg('size', 'medium');
  const scale = arg('payload-scale', '0.25');
  const runs = Number(arg('runs', '3'));
  const work = resolve(arg('work', join(ROOT, 'bench-work')));
  const shape = arg('shape', 'server');
  if (arg('only', '') === 'growth') {
    const small = join(work, 'fixtures-small-growth');
    if (!existsSync(join(small, 'fixtures.json'))) {
      const g = spawnSync(process.execPath, [GENERATE, '--size', 'small', '--out', small, '--builds', '3', '--machines', '1'], { stdio: 'inherit' });
      if (g.status !== 0) throw new Error('fixture generation failed');
    }
    const archives = (JSON.parse(readFileSync(join(small, 'fixtures.json'), 'utf8')).builds as { file: string }[]).map((b) => b.file);
    const points = await benchGrowth({
      gbp: GBP,
      work,
      archives,
      measure,
      builds: Number(arg('builds', '2000')),
      machines: Number(arg('machines', '50')),
      machineBuilds: Number(arg('machine-builds', '20')),
      onPoint: (p) => process.stderr.write(`${p.machines} machines, build ${p.builds} (${p.storeBuilds} in the store): pull ${p.pull.seconds} s, note ${p.note.seconds} s, full render ${p.fullRender.seconds} s\n`),
    });
    writeFileSync(join(work, 'growth.json'), `${JSON.stringify(points, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(points, null, 2)}\n`);
    return;
  }
  const fixtures = join(work, shape === 'server' ? `fixtures-${size}-${scale}-3` : `fixtures-${shape}-${scale}-3`);
  if (!existsSync(join(fixtures, 'fixtures.json'))) {
    process.stderr.write(`generating the ${size} fixture (${shape}, payload scale ${scale}) in ${fixtures} ...\n`);
    const g = spawnSync(process.execPath, [GENERATE, '--size', size, '--shape', shape, '--out', fixtures, '--builds', '3', '--machines', '1', '--payload-scale', scale], { stdio: 'inherit' });
    if (g.status !== 0) throw new Error('fixture generation failed');
  }
  const meta = JSON.parse(readFileSync(join(fixtures, 'fixtures.json'), 'utf8'));
  const [first, next, third] = meta.builds as { file: string; machine: string; changedRepoFiles: number; rebuiltPackages: number }[];
  const extractDir = join(work, 'tar-x');
  const store = join(work, 'store');

  if (arg('only', '') === 'serve') {
    // gbp serve against nginx, on the store a full run left
    process.stdout.write(`${JSON.stringify(await benchServe(GBP, store, work, runs), null, 2)}\n`);
    return;
  }
  if (arg('only', '') === 'bucket') {
    const r = await benchBucket({ root: ROOT, gbp: GBP, work, machine: first.machine, archives: [first.file, next.file], measure, runs });
    process.stdout.write(`${JSON.stringify({ shape, payloadScale: Number(scale), ...r }, null, 2)}\n`);
    return;
  }
  if (arg('only', '') === 's3') {
    // publishing to the test RGW against rclone (starts one if none is running), --runs times on
    // fresh buckets; the plain tree's 20 minutes once at most
    const all: Awaited<ReturnType<typeof benchS3>>[] = [];
    for (let i = 0; i < runs; i++) {
      all.push(await benchS3({ root: ROOT, gbp: GBP, work, machine: first.machine, archives: [first.file, next.file], measure, skipPlain: i > 0 || process.argv.includes('--skip-plain') }));
    }
    const mid = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const medians = (step: 'first' | 'next') => ({
      gbpSeconds: mid(all.map((r) => r[step].gbp.seconds)),
      rcloneSeconds: mid(all.map((r) => r[step].rclone.seconds)),
      ratio: mid(all.map((r) => r[step].ratio)),
      gbpRequests: mid(all.map((r) => r[step].gbp.requests)),
      gbpPeakRssMb: Math.max(...all.map((r) => r[step].gbp.peakRssMb ?? 0)),
    });
    process.stdout.write(`${JSON.stringify({ runs, median: { first: medians('first'), next: medians('next'), directPullSeconds: mid(all.map((r) => r.directPull.seconds)) }, each: all }, null, 2)}\n`);
    return;
  }
  if (process.argv.includes('--only') && arg('only', '') === 'export') {
    // the rsync export alone, on the store a full run left (builds 1..3 pulled)
    const r = await benchExport(GBP, store, first.machine, [first.file, next.file, third.file], work, measure);
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    return;
  }
  const tar: Measure[] = [];
  const floor1: Measure[] = [];
  const pull1: Measure[] = [];
  const floor: Measure[] = [];
  const pull2: Measure[] = [];
  for (let i = 0; i < runs; i++) {
    rmSync(extractDir, { recursive: true, force: true });
    mkdirSync(extractDir, { recursive: true });
    tar.push(measure(`tar -xf ${first.file} -C ${extractDir}`));
    rmSync(extractDir, { recursive: true, force: true });

    rmSync(store, { recursive: true, force: true });
    floor1.push(measure(`gzip -dc ${first.file} > /dev/null`));
    pull1.push(measure(`${GBP} --quiet --store ${store} pull ${first.file} -m ${first.machine} -b 1`));
    floor.push(measure(`gzip -dc ${next.file} > /dev/null`));
    pull2.push(measure(`${GBP} --quiet --store ${store} pull ${next.file} -m ${next.machine} -b 2`));
  }
  let exportError = '';
  // the export benchmark needs build 3 in the store too
  measure(`${GBP} --quiet --store ${store} pull ${third.file} -m ${third.machine} -b 3`);
  const t = median(tar);
  const f1 = median(floor1);
  const p1 = median(pull1);
  const f = median(floor);
  const p2 = median(pull2);
  const result = {
    size,
    payloadScale: Number(scale),
    runs,
    archive: { first: statSync(first.file).size, next: statSync(next.file).size, repoFiles: meta.repoFiles, changedRepoFiles: next.changedRepoFiles, rebuiltPackages: next.rebuiltPackages },
    firstPull: { gbp: p1, tarX: t, ratio: p1.seconds / t.seconds, gzipFloor: f1, floorRatio: p1.seconds / f1.seconds },
    allRuns: { tar, floor1, pull1, floor, pull2 },
    nextPull: { gbp: p2, gzipFloor: f, ratio: p2.seconds / f.seconds },
    peakRssMb: Math.max(p1.peakRssMb, p2.peakRssMb),
    export: await benchExport(GBP, store, first.machine, [first.file, next.file, third.file], work, measure).catch((err) => {
      exportError = String(err);
      return null;
    }),
    node: process.version,
    date: new Date().toISOString(),
  };
  writeFileSync(join(work, 'results.json'), `${JSON.stringify(result, null, 2)}\n`);
  if (process.argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  const mb = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
  const row = (name: string, ours: Measure, refName: string, ref: Measure, goal: string) =>
    `| ${name} | ${ours.seconds.toFixed(2)} s | ${refName} ${ref.seconds.toFixed(2)} s | **${(ours.seconds / ref.seconds).toFixed(2)}×** (goal ${goal}) | ${ours.peakRssMb.toFixed(0)} MB |`;
  process.stdout.write(
    [
      `medium fixture: ${meta.repoFiles} repository files; archives ${mb(result.archive.first)} / ${mb(result.archive.next)} (gzip);`,
      `next build: ${next.changedRepoFiles} repository files changed, ${next.rebuiltPackages} packages rebuilt; median of ${runs} runs`,
      '',
      '| step | gbp pull | reference (same run) | ratio | gbp peak RSS |',
      '|---|---|---|---|---|',
      row('first pull', p1, 'tar -xf', t, '≤ 1.2×'),
      row('first pull', p1, 'gzip -dc', f1, 'none; for scale'),
      row('next build', p2, 'gzip -dc', f, '≤ 1.5×'),
      '',
      ...(result.export
        ? [
            '| rsync export | gbp export-rsync | rsync -a --link-dest (same run) | ratio | peak RSS |',
            '|---|---|---|---|---|',
            `| N+1 after N, no idle generation (full tree) | ${result.export.full.seconds.toFixed(2)} s | ${result.export.linkDest.seconds.toFixed(2)} s | **${result.export.full.ratio.toFixed(2)}×** (goal ≤ 0.5×) | ${result.export.full.peakRssMb.toFixed(0)} MB |`,
            `| N+1 after N, steady state (diff onto idle generation) | ${result.export.steady.seconds.toFixed(2)} s | ${result.export.linkDest.seconds.toFixed(2)} s | **${result.export.steady.ratio.toFixed(2)}×** | ${result.export.steady.peakRssMb.toFixed(0)} MB |`,
            '',
            `client N → N+1 (Portage's rsync options): ${result.export.client.transferredFiles} files, ${result.export.client.transferredBytes} bytes of files transferred, ${result.export.client.wireBytes} bytes on the wire; changed: ${result.export.client.changedFiles} files, ${result.export.client.changedBytes} bytes → **${result.export.client.ratio.toFixed(2)}×** (goal ≤ 1.1×)`,
            `client N+1 → N, a rollback: ${result.export.rollback.transferredFiles} files, ${result.export.rollback.transferredBytes} bytes of files transferred; changed: ${result.export.rollback.changedFiles} files, ${result.export.rollback.changedBytes} bytes → **${result.export.rollback.ratio.toFixed(2)}×** (goal ≤ 1.1×)`,
            '',
          ]
        : [`export benchmark failed: ${exportError}`, '']),
    ].join('\n'),
  );
}

main().catch((err) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.stack : err}\n`);
  process.exit(1);
});
