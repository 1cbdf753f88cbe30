/**
 * Progress for long work: a self-rewriting line on a terminal, a plain line every 15 s in a CI log
 * (Jenkins captures stderr; carriage returns would pile up there). Silent with --json or --quiet.
 */
import { bytes } from './format.js';

export function progressReporter(enabled: boolean): ((p: { rawBytes: number; tarBytes: number; members: number; totalBytes: number | null }) => void) & { done(): void } {
  const tty = process.stderr.isTTY;
  const started = Date.now();
  let last = tty ? 0 : started; // a CI log gets its first line after 15 s, not at once
  let drawn = false;
  const report = (p: { rawBytes: number; tarBytes: number; members: number; totalBytes: number | null }) => {
    if (!enabled) return;
    const now = Date.now();
    if (now - last < (tty ? 200 : 15_000)) return;
    last = now;
    const pct = p.totalBytes ? ` (${Math.floor((100 * p.rawBytes) / p.totalBytes)}%)` : '';
    const rate = bytes(p.rawBytes / Math.max(0.001, (now - started) / 1000));
    const text = `reading archive: ${bytes(p.rawBytes)}${pct}, ${p.members} members, ${rate}/s`;
    if (tty) {
      process.stderr.write(`\r\x1b[K${text}`);
      drawn = true;
    } else process.stderr.write(`${text}\n`);
  };
  return Object.assign(report, {
    done() {
      if (drawn) process.stderr.write('\r\x1b[K');
    },
  });
}
