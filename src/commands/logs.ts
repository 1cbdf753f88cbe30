/**
 * `gbp log-text` and `gbp search-logs`: the console logs kept with builds (records/build-log.ts).
 * A search reads the logs of every recorded build, newest first, one at a time.
 */
import { GbpError } from '../errors.js';
import { readBuildLog } from '../records/build-log.js';
import { resolveBuildRef } from '../records/build-ref.js';
import { loadBuild } from '../records/build-manifest.js';
import { listMachines, requireState } from '../records/machine-state.js';
import type { Store } from '../store/store.js';

export async function buildLogText(store: Store, machine: string, ref: string): Promise<{ machine: string; id: string; text: string }> {
  const id = resolveBuildRef(await requireState(store, machine), ref);
  const text = await readBuildLog(store, machine, id);
  if (text === null) throw new GbpError('not-found', `${machine} ${id}`, 'no console log was kept with this build (gbp pull --log FILE keeps one)');
  return { machine, id, text };
}

export interface LogMatch {
  machine: string;
  id: string;
  created: number;
  matches: number;
  lines: { number: number; text: string }[];
}

export async function searchLogs(store: Store, pattern: string, machine: string | undefined, o: { ignoreCase: boolean; maxLines: number }): Promise<LogMatch[]> {
  let re: RegExp;
  try {
    re = new RegExp(pattern, o.ignoreCase ? 'i' : '');
  } catch (err) {
    throw new GbpError('usage', pattern, `is not a regular expression: ${(err as Error).message}`);
  }
  const rows: LogMatch[] = [];
  for (const m of machine ? [machine] : await listMachines(store)) {
    const state = await requireState(store, m);
    for (const entry of [...state.builds].reverse()) {
      const build = await loadBuild(store, m, entry.id);
      if (!build?.log) continue;
      const text = await readBuildLog(store, m, entry.id);
      if (text === null) continue;
      const row: LogMatch = { machine: m, id: entry.id, created: build.created, matches: 0, lines: [] };
      text.split('\n').forEach((line, i) => {
        if (!re.test(line)) return;
        row.matches++;
        if (row.lines.length < o.maxLines) row.lines.push({ number: i + 1, text: line.slice(0, 300) });
      });
      if (row.matches) rows.push(row);
    }
  }
  return rows.sort((a, b) => b.created - a.created);
}
