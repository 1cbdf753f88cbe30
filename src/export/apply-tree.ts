/**
 * Brings one exported tree from what it holds to what it should hold, touching only what differs,
 * in one walk of both trees in path order: removed paths go, new directories come, new or changed
 * files and symlinks are (re)created. Files are hard links to
 * the object cache. The directory is never one clients are served from while it changes (the
 * exporter writes only generations nobody reads), so nothing here needs to be atomic.
 *
 * Nothing here follows a link while writing: a tree is checked first (`assertSafeTree`: no entry
 * below a file or a symlink, no `..`, every symlink resolving inside the tree, as at ingest: a
 * store written by an older version, or a bucket someone else can write, is not trusted either),
 * and symlinks are created only after every directory and file, so no mkdir or link goes through
 * one. The exporter checks each tree when it plans it, the one time the tree is in memory whole;
 * applying then walks it from its manifest.
 */
import { chmodSync, linkSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { GbpError } from '../errors.js';
import { LinkResolver } from '../archive/link-resolution.js';
import { inPathOrder, pairByPath, type TreeEntry } from '../records/tree-manifest.js';
import type { ObjectCache } from './object-cache.js';

export interface TreeChange {
  added: number;
  changed: number;
  removed: number;
  /** Cache objects this tree stopped linking: candidates for the exporter's sweep. */
  released: string[];
}

function sameEntry(a: TreeEntry, b: TreeEntry): boolean {
  if (a.type !== b.type) return false;
  if (a.type === 'f') return a.sha256 === b.sha256 && a.mtime === b.mtime && a.mode === b.mode;
  if (a.type === 'l') return a.target === b.target;
  return a.mode === b.mode;
}

/** What applying `target` over `current` adds, changes and removes (directories count too). */
export function countChanges(current: Iterable<TreeEntry> | null, target: TreeEntry[]): { added: number; changed: number; removed: number } {
  const out = { added: 0, changed: 0, removed: 0 };
  for (const [h, e] of pairByPath(current, target)) {
    if (!h) out.added++;
    else if (!e) out.removed++;
    else if (!sameEntry(h, e)) out.changed++;
  }
  return out;
}

/** The entries `apply` will have to create: what the cache must hold before it runs. Walked, never held. */
export function* entriesToWrite(current: Iterable<TreeEntry> | null, target: Iterable<TreeEntry>): Generator<TreeEntry> {
  for (const [h, e] of pairByPath(current, target)) if (e && (!h || !sameEntry(h, e))) yield e;
}

/**
 * Refuses a tree that could make a write land outside it (see the top comment). With
 * `linksStayInside` (a repository), every symlink must also resolve inside the tree; an
 * /etc/portage tree's make.profile legitimately leads into the client's repositories.
 */
export function assertSafeTree(name: string, entries: TreeEntry[], linksStayInside = true): void {
  const target = inPathOrder(entries);
  const byPath = { get: (path: string) => findByPath(target, path) };
  const refuse = (path: string, reason: string): never => {
    throw new GbpError('store', `${name}/${path}`, `${reason}; this tree is not exported`);
  };
  const dirs = new Set<string>(['.']);
  for (const e of target) {
    if (e.path !== '.' && (e.path.startsWith('/') || e.path.split('/').some((s) => s === '..' || s === '.' || s === ''))) refuse(e.path, 'not a canonical path');
    for (let p = parentOf(e.path); !dirs.has(p); p = parentOf(p)) {
      const parent = byPath.get(p);
      if (parent && parent.type !== 'd') refuse(e.path, `is below '${p}', which is not a directory`);
      dirs.add(p);
    }
  }
  if (!linksStayInside) return;
  // resolved as if the tree were a repository: its own root is the boundary
  const prefix = 'repos/tree/';
  const resolver = new LinkResolver({
    kind: (n) => {
      const path = n === 'repos/tree' ? '.' : n.slice(prefix.length);
      const e = byPath.get(path);
      if (!e) return dirs.has(path) ? 'dir' : undefined;
      return e.type === 'd' ? 'dir' : e.type === 'l' ? 'link' : 'file';
    },
    target: (n) => byPath.get(n.slice(prefix.length))!.target ?? '',
  });
  for (const e of target) {
    if (e.type !== 'l') continue;
    const reason = resolver.check(prefix + e.path);
    if (reason) refuse(e.path, reason.replaceAll('repos/tree', 'the tree'));
  }
}

const parentOf = (path: string) => {
  const slash = path.lastIndexOf('/');
  return slash > 0 ? path.slice(0, slash) : '.';
};

/**
 * `target` must have passed `assertSafeTree`. Either side can be an array or a manifest's walk.
 * One walk of both trees, in path order, changing each path as it comes: a parent comes before
 * everything below it, so its directory is made first; what the tree no longer holds goes at its
 * own path, before anything is made there. Only symlinks wait for the end (nothing is created
 * through a link this tree has just made), so memory holds what changed, never the tree: a
 * complete new tree of 124,000 files was 110 MB of entries held to sort.
 */
export function applyTree(dir: string, current: Iterable<TreeEntry> | null, target: Iterable<TreeEntry>, cache: ObjectCache): TreeChange {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const change: TreeChange = { added: 0, changed: 0, removed: 0, released: [] };
  const made = new Set<string>(['.']);
  // directories removed whole: what was below them went with them
  const removedDirs = new Set<string>();
  const goneWithParent = (path: string) => {
    if (!removedDirs.size) return false;
    for (let p = parentOf(path); p !== '.'; p = parentOf(p)) if (removedDirs.has(p)) return true;
    return false;
  };
  const links: TreeEntry[] = [];
  for (const [held, e] of pairByPath(current, target)) {
    // counted as countChanges counts them, so a dry run's plan and the export agree
    if (!held) change.added++;
    else if (!e) change.removed++;
    else if (!sameEntry(held, e)) change.changed++;
    else continue;
    let h = held;
    if (h && (!e || e.type !== h.type)) {
      if (h.path !== '.' && !goneWithParent(h.path)) rmSync(join(dir, h.path), { recursive: h.type === 'd', force: true });
      if (h.type === 'd') removedDirs.add(h.path);
      else if (h.type === 'f') change.released.push(cache.pathOf(h));
      h = null;
    }
    if (!e) continue;
    const p = e.path === '.' ? dir : join(dir, e.path);
    if (e.type === 'd') {
      if (!h) mkdirSync(p, { recursive: true, mode: 0o755 });
      made.add(e.path);
      // readable by the rsync daemon whatever the archive said; clients take modes of files, not dirs
      chmodSync(p, (e.mode | 0o555) & 0o775);
      continue;
    }
    if (h) {
      rmSync(p, { force: true });
      if (h.type === 'f') change.released.push(cache.pathOf(h));
    } else ensureParent(dir, e.path, made);
    // files now, symlinks at the end: nothing is created through a link this tree has just made
    if (e.type === 'f') linkSync(cache.pathOf(e), p);
    else links.push(e);
  }
  for (const e of links) symlinkSync(e.target!, join(dir, e.path));
  return change;
}

/** Binary search in a path-ordered tree. */
function findByPath(sorted: TreeEntry[], path: string): TreeEntry | undefined {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const p = sorted[mid].path;
    if (p === path) return sorted[mid];
    if (p < path) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}

/** Archives may lack directory members; a parent the tree listed is already there. */
function ensureParent(dir: string, path: string, made: Set<string>): void {
  const slash = path.lastIndexOf('/');
  const parent = slash > 0 ? path.slice(0, slash) : '.';
  if (made.has(parent)) return;
  mkdirSync(join(dir, parent), { recursive: true, mode: 0o755 });
  made.add(parent);
}
