/**
 * A tree manifest describes one directory tree of a build (`repos/gentoo`, `etc-portage`, ...):
 * every path with its type, mode, mtime, size, SHA-256, and where its bytes are (pack + offset).
 * It is stored gzipped under the SHA-256 of the stored bytes, so identical trees (machines sharing
 * one repository snapshot) are stored once. The xxh64 of small files lets the next build recognise
 * an unchanged file without computing its SHA-256.
 */
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';

export const TREE_FORMAT = 1;

export type EntryType = 'f' | 'd' | 'l';

export interface TreeEntry {
  path: string;
  type: EntryType;
  mode: number;
  mtime: number;
  size: number;
  /** Files: SHA-256 of the content. */
  sha256: string | null;
  /** Small files: xxh64 (hex) for the quick unchanged check. */
  xxh64: string | null;
  /** Files: where the bytes are. */
  pack: string | null;
  offset: number;
  /** Symlinks: the target as written in the archive. */
  target: string | null;
}

interface StoredTree {
  format: number;
  packs: string[];
  /** [path, type, mode, mtime, size, sha256, xxh64, packIndex, offset, target] */
  entries: [string, EntryType, number, number, number, string | null, string | null, number, number, string | null][];
}

export function encodeTree(entries: TreeEntry[]): { data: Buffer; sha256: string } {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const packs: string[] = [];
  const packIndex = new Map<string, number>();
  const rows: StoredTree['entries'] = sorted.map((e) => {
    let pi = -1;
    if (e.pack) {
      pi = packIndex.get(e.pack) ?? -1;
      if (pi < 0) {
        pi = packs.push(e.pack) - 1;
        packIndex.set(e.pack, pi);
      }
    }
    return [e.path, e.type, e.mode, e.mtime, e.size, e.sha256, e.xxh64, pi, e.offset, e.target];
  });
  const stored: StoredTree = { format: TREE_FORMAT, packs, entries: rows };
  const data = gzipSync(JSON.stringify(stored), { level: 6 });
  return { data, sha256: createHash('sha256').update(data).digest('hex') };
}

export function decodeTree(data: Buffer): TreeEntry[] {
  const stored = JSON.parse(gunzipSync(data).toString('utf8')) as StoredTree;
  if (stored.format !== TREE_FORMAT) throw new Error(`unsupported tree format ${stored.format}`);
  return stored.entries.map(([path, type, mode, mtime, size, sha256, xxh64, pi, offset, target]) => ({
    path,
    type,
    mode,
    mtime,
    size,
    sha256,
    xxh64,
    pack: pi >= 0 ? stored.packs[pi] : null,
    offset,
    target,
  }));
}
