/**
 * A build's console log (Jenkins' consoleText, or any file given with --log): kept gzipped beside
 * the build (builds/<m>/<id>/log.txt.gz), its SHA-256 in build.json, and what an admin looks for
 * first pulled out once, at pull: how many packages emerge merged, the lines that report a
 * failure, and Jenkins' verdict.
 */
import { gunzipSync } from 'node:zlib';
import { GbpError } from '../errors.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/store.js';

/** A log larger than this is refused: no console log of a world build comes near it. */
export const MAX_LOG_BYTES = 256 << 20;
const MAX_FAILURES = 20;

export interface LogSummary {
  /** `>>> Completed (n of N)` lines: packages merged, and of how many. */
  merged: number;
  planned: number | null;
  /** Lines reporting a failure (`!!! `, `* ERROR:`), the first 20. */
  failures: string[];
  /** Jenkins' last line: `Finished: SUCCESS`, `FAILURE`, … */
  result: string | null;
}

export interface LogRecord {
  /** SHA-256 of the stored (gzipped) object, and the log's own size and lines. */
  sha256: string;
  storedBytes: number;
  bytes: number;
  lines: number;
  summary: LogSummary;
}

export function summariseLog(text: string): { lines: number; summary: LogSummary } {
  const summary: LogSummary = { merged: 0, planned: null, failures: [], result: null };
  let lines = 0;
  for (const raw of text.split('\n')) {
    lines++;
    const line = raw.replace(/\r$/, '');
    const done = /^>>> Completed \((\d+) of (\d+)\)/.exec(line);
    if (done) {
      summary.merged++;
      summary.planned = Number(done[2]);
      continue;
    }
    if (/^(!!! |\s*\* ERROR: )/.test(line) && summary.failures.length < MAX_FAILURES) summary.failures.push(line.slice(0, 500));
    const finished = /^Finished: ([A-Z_]+)\s*$/.exec(line);
    if (finished) summary.result = finished[1];
  }
  return { lines: text.endsWith('\n') ? lines - 1 : lines, summary };
}

/** The build's log as text, or null when it has none. */
export async function readBuildLog(store: Store, machine: string, id: string): Promise<string | null> {
  const gz = await store.get(keys.buildLog(machine, id));
  if (!gz) return null;
  try {
    return gunzipSync(gz, { maxOutputLength: MAX_LOG_BYTES }).toString('utf8');
  } catch {
    throw new GbpError('store', keys.buildLog(machine, id), 'is not a gzipped log (damaged?)');
  }
}
