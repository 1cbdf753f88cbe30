/** Reading a build's trees back: the manifest of a tree, and one file's bytes from its pack. */
import { GbpError } from '../errors.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/store.js';
import type { BuildManifest } from './build-manifest.js';
import { decodeTree, type TreeEntry } from './tree-manifest.js';
import { sha256Hex } from '../util/sha256.js';

/** Decoded trees by manifest SHA-256: a page or diff that reads one tree twice decodes it once. */
export type TreeCache = Map<string, TreeEntry[]>;

export async function loadTreeEntries(store: Store, build: BuildManifest, tree: string, cache?: TreeCache): Promise<TreeEntry[] | null> {
  const ref = build.trees[tree];
  if (!ref) return null;
  const cached = cache?.get(ref.manifest);
  if (cached) return cached;
  const entries = await decodeStoredTree(store, build, ref.manifest);
  cache?.set(ref.manifest, entries);
  return entries;
}

async function decodeStoredTree(store: Store, build: BuildManifest, manifest: string): Promise<TreeEntry[]> {
  return decodeTree((await loadTreeManifest(store, build, manifest))!);
}

/** A tree's manifest as stored (gzip), for walks that need not hold the decoded tree. */
export async function loadTreeManifest(store: Store, build: BuildManifest, manifest: string | undefined): Promise<Buffer | null> {
  if (!manifest) return null;
  const data = await store.get(keys.tree(manifest));
  if (!data) throw new GbpError('store', keys.tree(manifest), `tree manifest of ${build.machine} ${build.id} is missing`);
  // named by its SHA-256: one changed in place (a bucket anyone with its keys can write) is not read
  if (sha256Hex(data) !== manifest) throw new GbpError('store', keys.tree(manifest), `tree manifest of ${build.machine} ${build.id} does not match its SHA-256 (changed or damaged; see gbp fsck)`);
  return data;
}

/** The bytes of one file, verified against its SHA-256; null when the tree has no such file. */
export async function readTreeFile(store: Store, entries: TreeEntry[] | null, path: string): Promise<Buffer | null> {
  return readEntryFile(store, entries?.find((x) => x.path === path) ?? null, path);
}

/** The bytes of one entry's file, verified against its SHA-256; null unless it is a stored file. */
export async function readEntryFile(store: Store, e: TreeEntry | null, path: string): Promise<Buffer | null> {
  if (!e || e.type !== 'f' || !e.pack || !e.sha256) return null;
  const data = await store.getRange(keys.pack(e.pack), e.offset, e.size);
  if (sha256Hex(data) !== e.sha256) {
    throw new GbpError('store', keys.pack(e.pack), `content of ${path} does not match its SHA-256 (corrupt pack)`);
  }
  return data;
}
