/** A directory tree as a comparable listing: path → content hash / link target, plus file mtimes. */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

export function listTree(root: string, { mtimes = false } = {}): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p);
      if (st.isSymbolicLink()) out[r] = `-> ${readlinkSync(p)}`;
      else if (st.isDirectory()) {
        out[`${r}/`] = 'dir';
        walk(p, r);
      } else {
        out[r] = createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16) + ` ${(st.mode & 0o777).toString(8)}` + (mtimes ? ` @${Math.floor(st.mtimeMs / 1000)}` : '');
      }
    }
  };
  walk(root, '');
  return out;
}

/** A listing without metadata/timestamp.chk, the one file the export may serve rewritten (served-timestamp.ts). */
export function withoutTimestamp(tree: Record<string, string>): Record<string, string> {
  const { ['metadata/timestamp.chk']: _, ...rest } = tree;
  return rest;
}
