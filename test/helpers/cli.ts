/** Runs the built `gbp` binary the way a CI job does, and snapshots a store directory. */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';

export const GBP = resolve(__dirname, '../../dist/src/cli/main.js');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
  json<T = any>(): T;
}

export function gbp(args: string[], opts: { input?: Buffer; env?: Record<string, string> } = {}): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    // the executable itself, as `gbp` on a PATH runs it: its first line's node flags included
    const child = spawn(GBP, args, { env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    child.on('error', reject);
    child.stdin.on('error', () => {}); // the CLI may exit before reading all of stdin
    child.stdin.end(opts.input ?? undefined);
    child.on('close', (code) => {
      const stdout = Buffer.concat(out).toString();
      resolvePromise({ code: code ?? -1, stdout, stderr: Buffer.concat(err).toString(), json: () => JSON.parse(stdout) });
    });
  });
}

export const tempDir = (prefix = 'gbp-test-') => mkdtempSync(join(tmpdir(), prefix));

/** A temp directory the rsync daemon (and any user) may read. */
export function openDir(prefix = 'gbp-open-'): string {
  const d = tempDir(prefix);
  chmodSync(d, 0o755);
  return d;
}

/** Every file below `root` (but the private `.tmp/`) with its content hash and mtime. */
export function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const p = join(dir, name);
      const rel = relative(root, p);
      if (rel === '.tmp') continue;
      const st = statSync(p);
      if (st.isDirectory()) {
        out[`${rel}/`] = 'dir';
        walk(p);
      } else {
        out[rel] = `${createHash('sha256').update(readFileSync(p)).digest('hex')} ${st.mtimeMs}`;
      }
    }
  };
  walk(root);
  return out;
}
