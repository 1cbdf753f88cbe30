/**
 * Progress for long work: a self-rewriting line on a terminal, a plain line every 15 s in a CI log
 * (Jenkins captures stderr; carriage returns would pile up there). Silent with --json or --quiet.
 */
import { bytes } from '../util/format.js';

export interface Progress {
  /** Says where the work is; cheap to call often (it draws at most every 200 ms / 15 s). */
  update(text: string): void;
  done(): void;
}

export function progress(enabled: boolean): Progress {
  const tty = process.stderr.isTTY;
  let last = tty ? 0 : Date.now(); // a CI log gets its first line after 15 s, not at once
  let drawn = false;
  return {
    update(text) {
      if (!enabled) return;
      const now = Date.now();
      if (now - last < (tty ? 200 : 15_000)) return;
      last = now;
      if (tty) {
        process.stderr.write(`\r\x1b[K${text}`);
        drawn = true;
      } else process.stderr.write(`${text}\n`);
    },
    done() {
      if (drawn) process.stderr.write('\r\x1b[K');
      drawn = false;
    },
  };
}

/** The pull's reporter: bytes read, share of the archive, members, rate. */
export function pullProgress(enabled: boolean): ((p: { rawBytes: number; tarBytes: number; members: number; totalBytes: number | null }) => void) & { phase(text: string): void; done(): void } {
  const started = Date.now();
  const line = progress(enabled);
  const report = (p: { rawBytes: number; tarBytes: number; members: number; totalBytes: number | null }) => {
    const pct = p.totalBytes ? ` (${Math.floor((100 * p.rawBytes) / p.totalBytes)}%)` : '';
    const rate = bytes(p.rawBytes / Math.max(0.001, (Date.now() - started) / 1000));
    line.update(`reading archive: ${bytes(p.rawBytes)}${pct}, ${p.members} members, ${rate}/s`);
  };
  return Object.assign(report, { phase: (text: string) => line.update(text), done: () => line.done() });
}
