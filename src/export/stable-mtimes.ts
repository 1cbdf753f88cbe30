/**
 * Chooses the mtime every file gets in an exported tree. Portage syncs with rsync without
 * --checksum: a file is sent when its size or mtime differ from the client's copy. So a file whose
 * content did not change since the tree clients hold now keeps exactly the mtime it had there,
 * whatever the new archive says (checkouts stamp fresh mtimes); a changed file takes the archive's
 * mtime, and if that would leave size and mtime both unchanged (rsync would skip it), one second
 * later. Where the archive's mtimes are stable already, the result is the archive's mtimes.
 * Pure: the previous tree in, the new one out.
 */
import { pairByPath, type TreeEntry } from '../records/tree-manifest.js';

/** `previous`: the tree clients hold now (null on a first export). The result is in path order. */
export function stableMtimes(next: TreeEntry[], previous: Iterable<TreeEntry> | null): TreeEntry[] {
  if (!previous) return next;
  const out: TreeEntry[] = [];
  for (const [prev, e] of pairByPath(previous, next)) {
    if (!e) continue;
    if (!prev || prev.type === 'd' || e.type === 'd') out.push(e);
    else if (e.type === 'f' ? prev.type === 'f' && prev.sha256 === e.sha256 : prev.type === 'l' && prev.target === e.target) out.push(prev.mtime === e.mtime ? e : { ...e, mtime: prev.mtime });
    else if (e.type === 'f' && prev.size === e.size && prev.mtime === e.mtime) out.push({ ...e, mtime: e.mtime + 1 });
    else out.push(e);
  }
  return out;
}
