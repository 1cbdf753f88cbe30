/**
 * `--only growth` (issue 13): does a store stay as fast as it grows? One machine is pulled to
 * --builds builds (default 2,000; each published, as a Jenkins job does), then --machines - 1 more
 * machines get --machine-builds builds each. At checkpoints the bench measures, as a user runs
 * them (the CLI, one process each): the next pull, list, purge --dry-run, gc --dry-run,
 * fsck --quick, a note (one build page re-rendered) and a full re-render of the machine's pages;
 * and the sizes of state.json, pages.json and the machine page. Between checkpoints the builds
 * are pulled in-process, which is faster and changes nothing the checkpoints measure.
 */
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pull } from '../../src/commands/pull.js';
import { FsStore } from '../../src/store/fs-store.js';
import { loadSite } from '../../src/store/site.js';

interface Measure {
  seconds: number;
  peakRssMb: number;
}
type Measurer = (command: string) => Measure;

export interface GrowthPoint {
  machines: number;
  builds: number;
  storeBuilds: number;
  pull: Measure;
  list: Measure;
  purgeDryRun: Measure;
  gcDryRun: Measure;
  fsckQuick: Measure;
  note: Measure;
  fullRender: Measure;
  bytes: { stateJson: number; pagesJson: number; machinePage: number; largestHistoryPage: number; frontPage: number };
}

const size = (path: string) => {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
};

export async function benchGrowth(opts: { gbp: string; work: string; archives: string[]; measure: Measurer; builds: number; machines: number; machineBuilds: number; onPoint?: (p: GrowthPoint) => void }): Promise<GrowthPoint[]> {
  const { gbp, work, archives, measure } = opts;
  const dir = join(work, 'growth-store');
  rmSync(dir, { recursive: true, force: true });
  const store = new FsStore(dir);
  const cli = (args: string) => measure(`${gbp} --quiet --store ${dir} ${args} > /dev/null`);
  const points: GrowthPoint[] = [];
  let storeBuilds = 0;
  const checkpoint = (machine: string, id: number, machines: number) => {
    const archive = archives[id % archives.length];
    const point: GrowthPoint = {
      machines,
      builds: id,
      storeBuilds: ++storeBuilds,
      pull: cli(`pull ${archive} -m ${machine} -b ${id} --publish`),
      list: cli(`list ${machine}`),
      purgeDryRun: cli('purge --dry-run'),
      gcDryRun: cli('gc --dry-run'),
      fsckQuick: cli('fsck --quick'),
      note: cli(`note ${machine} ${id} "checkpoint ${id}"`),
      // without pages.json every page of the machine is rendered again (from each build's page.json)
      fullRender: (rmSync(join(dir, 'machines', machine, 'pages.json')), cli(`note ${machine} ${id} --delete`)),
      bytes: { stateJson: 0, pagesJson: 0, machinePage: 0, largestHistoryPage: 0, frontPage: 0 },
    };
    const history = join(dir, 'machines', machine, 'history');
    let largest = 0;
    try {
      for (const f of readdirSync(history)) largest = Math.max(largest, size(join(history, f)));
    } catch {
      // no history pages yet
    }
    point.bytes = {
      stateJson: size(join(dir, 'machines', machine, 'state.json')),
      pagesJson: size(join(dir, 'machines', machine, 'pages.json')),
      machinePage: size(join(dir, 'machines', machine, 'index.html')),
      largestHistoryPage: largest,
      frontPage: size(join(dir, 'index.html')),
    };
    points.push(point);
    opts.onPoint?.(point);
  };
  const inProcess = async (machine: string, id: number) => {
    // the site as the CLI wrote it (the first checkpoint creates the store)
    await pull(store, await loadSite(store, undefined), { source: archives[id % archives.length], machine, id: String(id), publish: true });
    storeBuilds++;
  };

  const marks = new Set([1, 10, 100, 500, 1000, 1500, 2000, 3000, 5000].filter((n) => n < opts.builds).concat(opts.builds));
  for (let id = 1; id <= opts.builds; id++) {
    if (marks.has(id)) checkpoint('web', id, 1);
    else await inProcess('web', id);
  }
  for (let m = 2; m <= opts.machines; m++) {
    const machine = `m${String(m).padStart(2, '0')}`;
    for (let id = 1; id <= opts.machineBuilds; id++) {
      if (m === opts.machines && id === opts.machineBuilds) checkpoint(machine, id, m);
      else await inProcess(machine, id);
    }
  }
  return points;
}
