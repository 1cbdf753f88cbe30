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

const WHOLE_PACK_AT = 32; // this many files wanted from one pack: read it once instead of by range

export class ObjectCache {
  constructor(readonly dir: string) {}

  pathOf(e: TreeEntry): string {
    return join(this.dir, e.sha256!.slice(0, 2), `${e.sha256}-${e.mtime}-${e.mode.toString(8)}`);
  }

  /**
   * Makes sure every file entry has its object; returns how many were fetched and their bytes.
   * `served` (the tree clients get now) links its objects, so an identical entry is not looked for.
   */
  async ensure(store: Store, entries: TreeEntry[], served: Iterable<TreeEntry> | null = null): Promise<{ files: number; bytes: number }> {
    const missing = new Map<string, TreeEntry>();
    for (const [s, e] of pairByPath(served, entries)) {
      if (e?.type !== 'f') continue;
      if (s?.type === 'f' && s.sha256 === e.sha256 && s.mtime === e.mtime && s.mode === e.mode) continue;
      const p = this.pathOf(e);
      if (!missing.has(p) && !existsSync(p)) missing.set(p, e);
    }
    const byPack = new Map<string, TreeEntry[]>();
    for (const e of missing.values()) {
      if (!e.pack) {
        // content the exporter made (a served timestamp.chk), kept beside the cache
        const data = readSynthetic(this.dir, e);
        if (!data) throw new GbpError('store', e.path, 'tree entry has no pack location');
        this.write(e, data);
        continue;
      }
      const list = byPack.get(e.pack) ?? [];
      list.push(e);
      byPack.set(e.pack, list);
    }
    let bytes = 0;
    for (const [pack, list] of byPack) {
      const key = keys.pack(pack);
      let whole: Buffer | null = null;
      if (list.length >= WHOLE_PACK_AT) {
        whole = await store.get(key);
        if (!whole) throw new GbpError('store', key, 'pack is missing from the store');
      }
      for (const e of list.sort((a, b) => a.offset - b.offset)) {
        const data = whole ? whole.subarray(e.offset, e.offset + e.size) : await store.getRange(key, e.offset, e.size);
        if (data.length !== e.size || sha256Hex(data) !== e.sha256) {
          throw new GbpError('store', `${key}@${e.offset}`, `content of ${e.path} does not match its SHA-256 (corrupt pack)`);
        }
        this.write(e, data);
        bytes += e.size;
      }
    }
    return { files: missing.size, bytes };
  }

  /** Content made by the exporter rather than read from the store: cached now, and kept to re-create. */
  putSynthetic(e: TreeEntry, data: Buffer): void {
    const p = syntheticPath(this.dir, e);
    mkdirSync(dirname(p), { recursive: true });
    if (!existsSync(p)) writeFileSync(p, data);
    if (!existsSync(this.pathOf(e))) this.write(e, data);
  }

  private write(e: TreeEntry, data: Buffer): void {
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
