/**
 * Brings one exported tree from what it holds to what it should hold, touching only what differs:
 * removed paths go (files first, then directories deepest first), new directories come
 * (shallowest first), new or changed files and symlinks are (re)created. Files are hard links to
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

const depth = (p: string) => p.split('/').length;

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

/** The entries `apply` will have to create: what the cache must hold before it runs. */
export function entriesToWrite(current: Iterable<TreeEntry> | null, target: Iterable<TreeEntry>): TreeEntry[] {
  const out: TreeEntry[] = [];
  for (const [h, e] of pairByPath(current, target)) if (e && (!h || !sameEntry(h, e))) out.push(e);
  return out;
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

/** `target` must have passed `assertSafeTree`. Either side can be an array or a manifest's walk. */
export function applyTree(dir: string, current: Iterable<TreeEntry> | null, target: Iterable<TreeEntry>, cache: ObjectCache): TreeChange {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const change: TreeChange = { added: 0, changed: 0, removed: 0, released: [] };
  const release = (e: TreeEntry | null) => {
    if (e?.type === 'f') change.released.push(cache.pathOf(e));
  };
  // one walk of both trees: only what differs (and the directories) is kept
  const gone: TreeEntry[] = [];
  const dirs: [TreeEntry, TreeEntry | null][] = [];
  const files: [TreeEntry, TreeEntry | null][] = [];
  const links: [TreeEntry, TreeEntry | null][] = [];
  for (const [h, e] of pairByPath(current, target)) {
    if (h && (!e || e.type !== h.type)) gone.push(h);
    if (!e) continue;
    if (e.type === 'd') dirs.push([e, h]);
    else if (!h || !sameEntry(h, e)) (e.type === 'f' ? files : links).push([e, h]);
  }
  for (const e of gone.filter((x) => x.type !== 'd')) {
    rmSync(join(dir, e.path), { force: true });
    release(e);
    change.removed++;
  }
  for (const e of gone.filter((x) => x.type === 'd').sort((a, b) => depth(b.path) - depth(a.path))) {
    if (e.path === '.') continue;
    rmSync(join(dir, e.path), { recursive: true, force: true });
  }

  const made = new Set<string>(['.']);
  for (const [e, h] of dirs.sort((a, b) => depth(a[0].path) - depth(b[0].path))) {
    const p = e.path === '.' ? dir : join(dir, e.path);
    if (!h || h.type !== 'd') mkdirSync(p, { recursive: true, mode: 0o755 });
    made.add(e.path);
    // readable by the rsync daemon whatever the archive said; clients take modes of files, not dirs
    if (!h || h.mode !== e.mode) chmodSync(p, (e.mode | 0o555) & 0o775);
  }
  // files before symlinks: nothing is created through a link this tree has just made
  for (const [e, h] of [...files, ...links]) {
    const p = join(dir, e.path);
    if (h && h.type !== 'd') {
      rmSync(p, { force: true });
      release(h);
    } else if (!h) ensureParent(dir, e.path, made);
    if (e.type === 'f') linkSync(cache.pathOf(e), p);
    else symlinkSync(e.target!, p);
    if (h && h.type === e.type) change.changed++;
    else change.added++;
  }
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
