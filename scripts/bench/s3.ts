/**
 * Publishing to S3 (issue 3) against Debian's rclone, on the test Ceph RGW, in the same run:
 *   first publish: `gbp sync <local store after build 1> s3://…`  vs  `rclone sync` of that same
 *                  directory to another bucket;
 *   next build:    the local store after build 2, synced again by both.
 * For each: wall time, requests, bytes sent. gbp's requests come from its own --json report;
 * rclone's from a second, untimed run with --dump headers (one "HTTP REQUEST" block per request).
 * Goals: next build ≤ 0.25× rclone's time with zero re-uploaded package bytes; first ≤ 1.5×.
 * A second reference: rclone sync of the archive's plain directory (each repository file its own
 * object), what a hand-made setup would upload; its request count is at least its file count.
 * Also reported, for scale: a pull straight from the archive into a bucket.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

interface Measure {
  seconds: number;
  peakRssMb: number;
}

type Measurer = (command: string, env?: NodeJS.ProcessEnv) => Measure;

export interface S3Side {
  seconds: number;
  requests: number;
  bytesSent: number;
  peakRssMb?: number;
}

export function rgwEnv(root: string): { env: Record<string, string>; stop: () => void } {
  const file = process.env.GBP_TEST_RGW_ENV || '/tmp/gbp-rgw/env';
  let stop = () => {};
  if (!existsSync(file)) {
    const r = spawnSync('bash', [join(root, 'scripts/rgw.sh'), 'start'], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error('could not start the test RGW (scripts/rgw.sh start)');
    stop = () => void spawnSync('bash', [join(root, 'scripts/rgw.sh'), 'stop'], { stdio: 'inherit' });
  }
  const env: Record<string, string> = {};
  for (const m of readFileSync(file, 'utf8').matchAll(/^export (\w+)=(.*)$/gm)) env[m[1]] = m[2];
  return { env, stop };
}

export function rcloneEnv(env: Record<string, string>): Record<string, string> {
  return {
    RCLONE_CONFIG_BENCH_TYPE: 's3',
    RCLONE_CONFIG_BENCH_PROVIDER: 'Ceph',
    RCLONE_CONFIG_BENCH_ENDPOINT: env.AWS_ENDPOINT_URL,
    RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID,
    RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY,
    RCLONE_CONFIG_BENCH_REGION: 'us-east-1',
  };
}

/** rclone with as many requests in flight as gbp allows itself (32), so neither is held back by defaults. */
const RCLONE_FLAGS = '--transfers 32 --checkers 32';

export async function benchS3(opts: { root: string; gbp: string; work: string; machine: string; archives: [string, string]; measure: Measurer; skipPlain?: boolean }) {
  const { root, gbp, work, machine, measure } = opts;
  const { env, stop } = rgwEnv(root);
  try {
    const all: NodeJS.ProcessEnv = { ...process.env, ...env, ...rcloneEnv(env) };
    // rclone's S3 client fails on a custom CA bundle with its transport; the test server is plain HTTP
    delete all.AWS_CA_BUNDLE;
    const run = (args: string[]) => {
      const r = spawnSync(gbp, ['--quiet', ...args], { env: all, encoding: 'utf8', maxBuffer: 1 << 28 });
      if (r.status !== 0) throw new Error(`gbp ${args.join(' ')} failed:\n${r.stderr}`);
      return r.stdout;
    };
    const rclone = (args: string) => {
      const r = spawnSync('sh', ['-c', `rclone ${args}`], { env: all, encoding: 'utf8', maxBuffer: 1 << 30 });
      if (r.status !== 0) throw new Error(`rclone ${args} failed:\n${r.stderr.slice(-2000)}`);
      return r.stderr;
    };
    const id = randomBytes(4).toString('hex');
    const buckets = { gbp: `bench-gbp-${id}`, rclone: `bench-rclone-${id}`, count: `bench-count-${id}`, pull: `bench-pull-${id}` };
    for (const b of Object.values(buckets)) rclone(`mkdir bench:${b}`);
    const local = join(work, 's3-local');
    rmSync(local, { recursive: true, force: true });
    const base = `${env.AWS_ENDPOINT_URL}/${buckets.gbp}/gbp`;

    const step = (archive: string, buildId: string) => {
      const pulled = JSON.parse(run(['--json', '--store', local, '--base-url', base, 'pull', archive, '-m', machine, '-b', buildId, '--publish']));
      const newBytes = pulled.packages.newBytes + pulled.trees.newBytes;
      let report: { bytes: number; traffic: { requests: Record<string, number>; bytesSent: number } } | null = null;
      const cmd = `${gbp} --quiet --json --base-url ${base} sync ${local} s3://${buckets.gbp}/gbp > ${join(work, 's3-sync.json')}`;
      const g = measure(cmd, all);
      report = JSON.parse(readFileSync(join(work, 's3-sync.json'), 'utf8'));
      const r = measure(`rclone sync ${RCLONE_FLAGS} ${local} bench:${buckets.rclone}/store`, all);
      // the same sync once more, untimed, into a third bucket kept in step, to count rclone's requests
      const log = rclone(`sync ${RCLONE_FLAGS} --dump headers ${local} bench:${buckets.count}/store`);
      const rcloneRequests = log.match(/HTTP REQUEST/g)?.length ?? 0;
      const rcloneBytes = [...log.matchAll(/^Content-Length: (\d+)$/gm)]
        .map((m) => Number(m[1]))
        .reduce((a, b) => a + b, 0); // request and response lengths both appear; an upper bound on bytes sent
      const gbpSide: S3Side = { ...g, requests: Object.values(report!.traffic.requests).reduce((a, b) => a + b, 0), bytesSent: report!.traffic.bytesSent };
      const rcloneSide: S3Side = { ...r, requests: rcloneRequests, bytesSent: rcloneBytes };
      return {
        gbp: gbpSide,
        rclone: rcloneSide,
        ratio: g.seconds / r.seconds,
        gbpRequestsByKind: report!.traffic.requests,
        // what the build brought (new packages and repository files) against what gbp copied
        newContentBytes: newBytes,
        copiedObjectBytes: report!.bytes,
        newPackages: pulled.packages.new,
      };
    };

    const first = step(opts.archives[0], '1');
    const next = step(opts.archives[1], '2');

    // The other reference: what a Jenkins-plus-nginx setup would upload, the archive's plain
    // directory (binpkgs and every repository file as its own object), synced by rclone.
    const plain = join(work, 's3-plain');
    const plainBucket = `bench-plain-${id}`;
    rclone(`mkdir bench:${plainBucket}`);
    const plainStep = (archive: string) => {
      rmSync(plain, { recursive: true, force: true });
      mkdirSync(plain, { recursive: true });
      if (spawnSync('tar', ['-xf', archive, '-C', plain]).status !== 0) throw new Error(`tar -xf ${archive} failed`);
      const files = Number(spawnSync('sh', ['-c', `find ${plain} -type f | wc -l`], { encoding: 'utf8' }).stdout.trim());
      return { files, ...measure(`rclone sync ${RCLONE_FLAGS} ${plain} bench:${plainBucket}/tree`, all) };
    };
    // about 20 minutes on the test machine: --skip-plain leaves it out
    let vsPlain = null;
    if (!opts.skipPlain) {
      const plainFirst = plainStep(opts.archives[0]);
      const plainNext = plainStep(opts.archives[1]);
      vsPlain = {
        first: { rclone: plainFirst, ratio: first.gbp.seconds / plainFirst.seconds },
        next: { rclone: plainNext, ratio: next.gbp.seconds / plainNext.seconds },
      };
    }
    const direct = measure(`${gbp} --quiet --store s3://${buckets.pull}/gbp pull ${opts.archives[0]} -m ${machine} -b 1 --publish`, all);
    // the buckets go: a benchmark must not fill the test server for the next one
    for (const b of [...Object.values(buckets), plainBucket]) rclone(`purge bench:${b}`);
    return { first, next, vsPlain, directPull: direct };
  } finally {
    stop();
  }
}
