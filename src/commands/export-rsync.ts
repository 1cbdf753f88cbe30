/**
 * `gbp export-rsync`: one export, or with `watch` an export every interval until stopped. Between
 * publishes an export only reads each machine's state and compares it with what it exported, so
 * watching every few seconds costs almost nothing.
 */
import { resolve } from 'node:path';
import { exportRsync, type ExportResult } from '../export/exporter.js';
import type { Store } from '../store/store.js';
import type { RecordReader } from '../records/record-signatures.js';

export interface ExportCommandOptions {
  dest: string;
  graceSeconds: number;
  dryRun?: boolean;
  /** Verifies the published builds' records (recordReaderFor). */
  reader?: RecordReader;
  onProgress?: (text: string) => void;
  watch?: { intervalSeconds: number; onExport: (r: ExportResult) => void; signal: AbortSignal };
}

export async function exportCommand(store: Store, opts: ExportCommandOptions): Promise<ExportResult> {
  const dest = resolve(opts.dest);
  let result = await exportRsync(store, { dest, graceSeconds: opts.graceSeconds, dryRun: opts.dryRun, onProgress: opts.onProgress, reader: opts.reader });
  if (!opts.watch || opts.dryRun) return result;
  const { intervalSeconds, onExport, signal } = opts.watch;
  onExport(result);
  while (!signal.aborted) {
    await new Promise<void>((r) => {
      const t = setTimeout(r, intervalSeconds * 1000);
      signal.addEventListener('abort', () => (clearTimeout(t), r()), { once: true });
    });
    if (signal.aborted) break;
    result = await exportRsync(store, { dest, graceSeconds: opts.graceSeconds, onProgress: opts.onProgress, reader: opts.reader });
    if (result.targets.some((t) => t.status !== 'unchanged')) onExport(result);
  }
  return result;
}
