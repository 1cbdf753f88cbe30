import { promises as fs } from 'node:fs';
import { dirname } from 'node:path';

/**
 * `mkdir -p` that reports why it failed. Node's recursive mkdir turns EROFS (and some EACCES)
 * below an existing directory into ENOENT, so a store on a read-only mount would be reported as
 * "no such file or directory". On ENOENT this walks up to the deepest existing ancestor and
 * creates the rest one level at a time, so the real errno surfaces.
 */
export async function makeDirs(dir: string, mode?: number): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true, mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const missing: string[] = [];
    for (let d = dir; !(await exists(d)); d = dirname(d)) {
      missing.unshift(d);
      if (dirname(d) === d) break;
    }
    for (const d of missing) {
      await fs.mkdir(d, { mode }).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
      });
    }
  }
}

async function exists(path: string): Promise<boolean> {
  return fs.lstat(path).then(
    () => true,
    () => false,
  );
}
