/**
 * Chooses the mtime every file gets in an exported tree. Portage syncs with rsync without
 * --checksum: a file is sent when its size or mtime differ from the client's copy. So a file whose
 * content did not change since the tree clients hold now keeps exactly the mtime it had there,
 * whatever the new archive says (checkouts stamp fresh mtimes); a changed file takes the archive's
 * mtime, and if that would leave size and mtime both unchanged (rsync would skip it), one second
 * later. Where the archive's mtimes are stable already, the result is the archive's mtimes.
 * Pure: the previous tree in, the new one out.
 */
import type { TreeEntry } from '../records/tree-manifest.js';

export interface PreviousFile {
  sha256: string | null;
  size: number;
  mtime: number;
  mode: number;
  target: string | null;
}

export function stableMtimes(next: TreeEntry[], previous: Map<string, PreviousFile> | null): TreeEntry[] {
  if (!previous) return next;
  return next.map((e) => {
    const prev = previous.get(e.path);
    if (!prev || e.type === 'd') return e;
    const same = e.type === 'f' ? prev.sha256 === e.sha256 : prev.target === e.target && prev.sha256 === null;
    if (same) return prev.mtime === e.mtime ? e : { ...e, mtime: prev.mtime };
    if (e.type === 'f' && prev.size === e.size && prev.mtime === e.mtime) return { ...e, mtime: e.mtime + 1 };
    return e;
  });
}

export function previousFrom(entries: TreeEntry[]): Map<string, PreviousFile> {
  const m = new Map<string, PreviousFile>();
  for (const e of entries) if (e.type !== 'd') m.set(e.path, { sha256: e.sha256, size: e.size, mtime: e.mtime, mode: e.mode, target: e.target });
  return m;
}
