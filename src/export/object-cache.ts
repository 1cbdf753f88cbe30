/**
 * The exporter's local object cache: one file per (content, mtime, mode), the inode that every
 * exported tree hard-links, so no byte is copied twice and one inode never needs two mtimes. Bytes
 * come from the store's packs: a few files by range, many from one pack by reading it once. Every
 * content is checked against its SHA-256 before it is kept (the name is the hash, checked on read).
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { GbpError } from '../errors.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/store.js';
import { pairByPath, type TreeEntry } from '../records/tree-manifest.js';
import { sha256Hex } from '../util/sha256.js';

/** What names a cache object: the content and the two attributes a hard link cannot vary. */
type ObjectId = Pick<TreeEntry, 'sha256' | 'mtime' | 'mode'>;

/** One pack's missing objects: offset, size, mtime and mode per object in `at`, its hash in `sha256`. */
interface Wanted {
  at: number[];
  sha256: string[];
}

const WHOLE_PACK_AT = 32; // this many files wanted from one pack: read it once instead of by range

export class ObjectCache {
  constructor(readonly dir: string) {}

  pathOf(e: ObjectId): string {
    return join(this.dir, e.sha256!.slice(0, 2), `${e.sha256}-${e.mtime}-${e.mode.toString(8)}`);
  }

  /**
   * Makes sure every file entry has its object; returns how many were fetched and their bytes.
   * `served` (the tree clients get now) links its objects, so an identical entry is not looked for.
   * Both are walked once, in path order; what is missing is kept per pack as a few numbers and a
   * hash, not as tree entries (124,000 of those were 60 MB of a first export's peak).
   */
  async ensure(store: Store, entries: Iterable<TreeEntry>, served: Iterable<TreeEntry> | null = null): Promise<{ files: number; bytes: number }> {
    const byPack = new Map<string, Wanted>();
    let files = 0;
    for (const [s, e] of pairByPath(served, entries)) {
      if (e?.type !== 'f') continue;
      if (s?.type === 'f' && s.sha256 === e.sha256 && s.mtime === e.mtime && s.mode === e.mode) continue;
      if (existsSync(this.pathOf(e))) continue;
      if (!e.pack) {
        // content the exporter made (a served timestamp.chk), kept beside the cache
        const data = readSynthetic(this.dir, e);
        if (!data) throw new GbpError('store', e.path, 'tree entry has no pack location');
        this.write(e, data);
        files++;
        continue;
      }
      let w = byPack.get(e.pack);
      if (!w) byPack.set(e.pack, (w = { at: [], sha256: [] }));
      w.at.push(e.offset, e.size, e.mtime, e.mode);
      w.sha256.push(e.sha256!);
    }
    let bytes = 0;
    for (const [pack, w] of byPack) {
      const key = keys.pack(pack);
      const count = w.sha256.length;
      let whole: Buffer | null = null;
      if (count >= WHOLE_PACK_AT) {
        whole = await store.get(key);
        if (!whole) throw new GbpError('store', key, 'pack is missing from the store');
      }
      const field = (i: number, f: number) => w.at[4 * i + f];
      // by offset, then mtime and mode: the same object wanted twice by one tree sits side by side
      const order = Array.from({ length: count }, (_, i) => i).sort((a, b) => field(a, 0) - field(b, 0) || field(a, 2) - field(b, 2) || field(a, 3) - field(b, 3));
      for (let k = 0; k < count; k++) {
        const i = order[k];
        const j = order[k - 1];
        if (k > 0 && field(i, 0) === field(j, 0) && field(i, 2) === field(j, 2) && field(i, 3) === field(j, 3)) continue;
        const [offset, size, mtime, mode] = [field(i, 0), field(i, 1), field(i, 2), field(i, 3)];
        const e = { sha256: w.sha256[i], mtime, mode };
        const data = whole ? whole.subarray(offset, offset + size) : await store.getRange(key, offset, size);
        if (data.length !== size || sha256Hex(data) !== e.sha256) {
          throw new GbpError('store', `${key}@${offset}`, `object ${e.sha256} does not match its SHA-256 (corrupt pack)`);
        }
        this.write(e, data);
        files++;
        bytes += size;
      }
    }
    return { files, bytes };
  }

  /** Content made by the exporter rather than read from the store: cached now, and kept to re-create. */
  putSynthetic(e: TreeEntry, data: Buffer): void {
    const p = syntheticPath(this.dir, e);
    mkdirSync(dirname(p), { recursive: true });
    if (!existsSync(p)) writeFileSync(p, data);
    if (!existsSync(this.pathOf(e))) this.write(e, data);
  }

  private write(e: ObjectId, data: Buffer): void {
    const p = this.pathOf(e);
    mkdirSync(join(this.dir, e.sha256!.slice(0, 2)), { recursive: true });
    const tmp = `${p}.tmp-${process.pid}`;
    writeFileSync(tmp, data);
    chmodSync(tmp, e.mode & 0o775); // never setuid, setgid or world-writable, whatever a tree says
    utimesSync(tmp, e.mtime, e.mtime);
    renameSync(tmp, p);
  }
}

/** Beside the cache, never swept: a synthetic object can always be made again from here. */
const syntheticPath = (cacheDir: string, e: TreeEntry) => join(cacheDir, '..', 'synthetic', e.sha256!);

function readSynthetic(cacheDir: string, e: TreeEntry): Buffer | null {
  try {
    const data = readFileSync(syntheticPath(cacheDir, e));
    return sha256Hex(data) === e.sha256 ? data : null;
  } catch {
    return null;
  }
}
