/**
 * A tree manifest describes one directory tree of a build (`repos/gentoo`, `etc-portage`, ...):
 * every path with its type, mode, mtime, size, SHA-256, and where its bytes are (pack + offset).
 * It is stored gzipped under the SHA-256 of the stored bytes, so identical trees (machines sharing
 * one repository snapshot) are stored once.
 *
 * Format: newline-delimited JSON. The first line is `{"format":1,"packs":[...]}`, then one line
 * per entry, sorted by path: `[path, type, mode, mtime, size, sha256, xxh64, packIndex, offset,
 * target]`. Line by line because a 124k-entry tree is 12 MB of JSON: parsed whole, its transient
 * garbage alone grew the process by 170 MB; parsed per line it stays flat. gzip level 1: the
 * manifest is written on every pull, and level 6 cost 0.4 s more for 15 % less.
 */
import { GbpError } from '../errors.js';
import { once } from 'node:events';
import { createGunzip, createGzip, gunzipSync, type ZlibOptions } from 'node:zlib';
import type { TransformOptions } from 'node:stream';
import { sha256Hex } from '../util/sha256.js';

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
  /** Always null now: the column of a withdrawn quick check (tree-intake.ts), kept so format 1 reads on. */
  xxh64: string | null;
  /** Files: where the bytes are. */
  pack: string | null;
  offset: number;
  /** Symlinks: the target as written in the archive. */
  target: string | null;
}

type Row = [string, EntryType, number, number, number, string | null, string | null, number, number, string | null];

const byPath = (a: TreeEntry, b: TreeEntry) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/** The entries in path order (the order of a decoded manifest): the same array when they already are. */
export function inPathOrder(entries: TreeEntry[]): TreeEntry[] {
  for (let i = 1; i < entries.length; i++) if (entries[i - 1].path > entries[i].path) return [...entries].sort(byPath);
  return entries;
}

/**
 * Walks two trees side by side, each path once, with its entry in `a`, in `b`, or both (null
 * where absent). Linear, and without a map from path to entry. Either side can be an array (put
 * in path order here) or a manifest's walk (`treeEntries`, in path order already), so a tree only
 * compared against is never held in memory.
 */
export function* pairByPath(a: Iterable<TreeEntry> | null, b: Iterable<TreeEntry> | null): Generator<[TreeEntry | null, TreeEntry | null]> {
  const ordered = (t: Iterable<TreeEntry> | null) => (Array.isArray(t) ? inPathOrder(t) : (t ?? []))[Symbol.iterator]();
  const ia = ordered(a);
  const ib = ordered(b);
  let x = ia.next();
  let y = ib.next();
  while (!x.done || !y.done) {
    if (y.done || (!x.done && x.value.path < y.value.path)) {
      yield [x.value, null];
      x = ia.next();
    } else if (x.done || y.value.path < x.value.path) {
      yield [null, y.value];
      y = ib.next();
    } else {
      yield [x.value, y.value];
      x = ia.next();
      y = ib.next();
    }
  }
}

/**
 * The manifest of `entries`, gzipped as it is written: 1 MiB of lines at a time goes through the
 * compressor, never the whole 15 MB of JSON (a 124,000-entry tree's text, joined and then copied
 * whole for gzipSync, was 40 MB of buffers at the end of every pull). Deflate without flushes
 * gives the same bytes however its input is cut, so a tree keeps its SHA-256.
 */
export async function encodeTree(entries: TreeEntry[]): Promise<{ data: Buffer; sha256: string }> {
  const sorted = inPathOrder(entries);
  const packs: string[] = [];
  const packIndex = new Map<string, number>();
  for (const e of sorted) {
    if (e.pack && !packIndex.has(e.pack)) packIndex.set(e.pack, packs.push(e.pack) - 1);
  }
  // deflate (the threadpool) runs while the next lines are made (here): up to 4 MiB of lines may
  // wait for it (zlib takes Transform's options; its types omit them), its output comes in 1 MiB
  // pieces (each a round trip to this thread), and each MiB of lines yields to let them in:
  // 0.42 -> 0.33 s for 124,000 entries
  const gzip = createGzip({ level: 1, chunkSize: 1 << 20, writableHighWaterMark: 4 << 20 } as ZlibOptions & TransformOptions);
  const out: Buffer[] = [];
  gzip.on('data', (chunk: Buffer) => void out.push(chunk));
  const ended = once(gzip, 'end');
  let lines: string[] = [JSON.stringify({ format: TREE_FORMAT, packs })];
  let pending = 0;
  const flush = async () => {
    const more = gzip.write(`${lines.join('\n')}\n`);
    lines = [];
    pending = 0;
    await (more ? new Promise((resolve) => setImmediate(resolve)) : once(gzip, 'drain'));
  };
  for (const e of sorted) {
    const row: Row = [e.path, e.type, e.mode, e.mtime, e.size, e.sha256, e.xxh64, e.pack ? packIndex.get(e.pack)! : -1, e.offset, e.target];
    const line = JSON.stringify(row);
    lines.push(line);
    pending += line.length;
    if (pending > 1 << 20) await flush();
  }
  await flush();
  gzip.end();
  await ended;
  const data = Buffer.concat(out);
  return { data, sha256: sha256Hex(data) };
}

/** Calls `each` per entry, in path order, without building the whole tree in memory. */
export function forEachTreeEntry(data: Buffer, each: (e: TreeEntry) => void): void {
  for (const e of treeEntries(data)) each(e);
}

/**
 * The output buffer for inflating a manifest: its whole text when the gzip trailer's size (ISIZE)
 * is believable, so one allocation is made, not 64 KiB chunks copied together at the end (the
 * chunks, freed, stayed in the C heap: 75 MB of a pull's peak). Only a size hint: a lying ISIZE
 * makes more chunks or a larger one, bounded either way.
 */
function outputChunk(gz: Buffer): number {
  const isize = gz.length >= 18 ? gz.readUInt32LE(gz.length - 4) : 0;
  return Math.min(Math.max(isize + 1, 64 << 10), 64 << 20, Math.max(gz.length * 64, 64 << 10));
}

/** A manifest's text; past MAX_MANIFEST_TEXT (a tree of millions of files) it is refused, not inflated. */
const MAX_MANIFEST_TEXT = 512 << 20;
const tooLarge = () => new GbpError('store', 'tree manifest', `inflates past ${MAX_MANIFEST_TEXT >> 20} MiB; not read`);

function inflateManifest(gz: Buffer): Buffer {
  try {
    return gunzipSync(gz, { chunkSize: outputChunk(gz), maxOutputLength: MAX_MANIFEST_TEXT });
  } catch (err) {
    if (err instanceof RangeError) throw tooLarge();
    throw err;
  }
}

/** The entries one at a time, in path order: two trees can be walked side by side. */
export function* treeEntries(data: Buffer): Generator<TreeEntry> {
  const text = inflateManifest(data);
  let start = text.indexOf(0x0a);
  const { packs } = parseHead(text.toString('utf8', 0, start < 0 ? text.length : start));
  for (start++; start > 0 && start < text.length; ) {
    let end = text.indexOf(0x0a, start);
    if (end < 0) end = text.length;
    yield parseRow(text.toString('utf8', start, end), packs);
    start = end + 1;
  }
}

function parseHead(line: string): { packs: string[] } {
  const head = JSON.parse(line) as { format: number; packs: string[] };
  if (head.format !== TREE_FORMAT) throw new GbpError('store', 'tree manifest', `unsupported tree format ${head.format} (written by another version of gbp)`);
  return head;
}

function parseRow(line: string, packs: string[]): TreeEntry {
  const [path, type, mode, mtime, size, sha256, xxh64, pi, offset, target] = JSON.parse(line) as Row;
  return { path, type, mode, mtime, size, sha256, xxh64, pack: pi >= 0 ? packs[pi] : null, offset, target };
}

/** What a streamed walk inflates at a time. */
const STREAM_CHUNK = 256 << 10;

/**
 * The packs a manifest's files are in: its first line, inflated alone (the writer lists exactly
 * the packs its entries use). For a copy of a trusted store, which needs the packs and not the files.
 */
export async function treePacks(data: Buffer): Promise<string[]> {
  const gunzip = createGunzip({ chunkSize: STREAM_CHUNK });
  gunzip.end(data);
  const head: Buffer[] = [];
  let inflated = 0;
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      const end = chunk.indexOf(0x0a);
      head.push(end >= 0 ? chunk.subarray(0, end) : chunk);
      if (end >= 0) break;
      inflated += chunk.length;
      if (inflated > MAX_MANIFEST_TEXT) throw tooLarge();
    }
  } finally {
    gunzip.destroy();
  }
  return parseHead(Buffer.concat(head).toString('utf8')).packs;
}

/**
 * The entries in path order, a batch per 256 KiB of inflated text: a walk that runs beside other
 * work (a build page's diff, after a pull) holds neither manifest's whole text (15 MB each for a
 * 124,000-file tree). Stopping early stops the inflation.
 */
export async function* streamTreeEntries(data: Buffer): AsyncGenerator<TreeEntry[]> {
  const gunzip = createGunzip({ chunkSize: STREAM_CHUNK });
  gunzip.end(data);
  let packs: string[] | null = null;
  // a line cut by a chunk's end: its pieces, joined once its newline comes (linear however long)
  let pending: Buffer[] = [];
  let inflated = 0;
  const take = (line: string, batch: TreeEntry[]) => {
    if (packs) batch.push(parseRow(line, packs));
    else ({ packs } = parseHead(line));
  };
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      inflated += chunk.length;
      if (inflated > MAX_MANIFEST_TEXT) throw tooLarge();
      const batch: TreeEntry[] = [];
      let start = 0;
      for (let end = chunk.indexOf(0x0a); end >= 0; start = end + 1, end = chunk.indexOf(0x0a, start)) {
        if (pending.length) {
          take(Buffer.concat([...pending, chunk.subarray(0, end)]).toString('utf8'), batch);
          pending = [];
        } else take(chunk.toString('utf8', start, end), batch);
      }
      // a copy when it is a piece of the chunk: the line must not keep 256 KiB alive
      if (start < chunk.length) pending.push(start ? Buffer.from(chunk.subarray(start)) : chunk);
      if (batch.length) yield batch;
    }
  } finally {
    gunzip.destroy();
  }
  if (pending.length) {
    const batch: TreeEntry[] = [];
    take(Buffer.concat(pending).toString('utf8'), batch);
    if (batch.length) yield batch;
  }
}

/** Reads a streamed walk an entry at a time; `next` awaits only when a batch runs out. */
class EntryCursor {
  private batch: TreeEntry[] = [];
  private at = 0;
  current: TreeEntry | null = null;
  constructor(private readonly source: AsyncIterator<TreeEntry[]> | null) {}

  async next(): Promise<TreeEntry | null> {
    while (this.at >= this.batch.length) {
      const got = this.source ? await this.source.next() : { done: true as const, value: undefined };
      if (got.done) return (this.current = null);
      this.batch = got.value;
      this.at = 0;
    }
    return (this.current = this.batch[this.at++]);
  }
}

/**
 * How many files and links differ between two manifests (added, removed, or with other content or
 * target; null is a tree that is not there), by one merge of the two path-ordered walks: a 124,000-file tree is compared without
 * holding either in memory.
 */
export async function countTreeChanges(a: Buffer | null, b: Buffer | null): Promise<number> {
  return (await listTreeChanges(a, b, 0)).count;
}

export type TreeChangeKind = 'added' | 'removed' | 'changed';

/** What one walk of two trees found: how many paths differ, the first of them, and the entries asked for by path. */
export interface TreeChanges {
  count: number;
  first: { path: string; change: TreeChangeKind }[];
  /** The entries at the `watch` paths in each tree (a repository's timestamp.chk, say), met on the way. */
  found: [Map<string, TreeEntry>, Map<string, TreeEntry>];
}

/**
 * How many paths differ between two trees, and the first `cap` of them in path order (one streamed
 * walk of each); the entries at the `watch` paths are picked up on the way, so nothing that needs
 * them walks either tree again.
 */
export async function listTreeChanges(a: Buffer | null, b: Buffer | null, cap: number, watch: readonly string[] = []): Promise<TreeChanges> {
  let count = 0;
  const first: { path: string; change: TreeChangeKind }[] = [];
  const note = (path: string, change: TreeChangeKind) => {
    count++;
    if (first.length < cap) first.push({ path, change });
  };
  const watched = new Set(watch);
  const found: TreeChanges['found'] = [new Map(), new Map()];
  const ca = new EntryCursor(a && streamTreeEntries(a));
  const cb = new EntryCursor(b && streamTreeEntries(b));
  const step = async (c: EntryCursor, seen: Map<string, TreeEntry>) => {
    do await c.next();
    while (c.current?.type === 'd');
    if (c.current && watched.has(c.current.path)) seen.set(c.current.path, c.current);
  };
  await Promise.all([step(ca, found[0]), step(cb, found[1])]);
  for (let x = ca.current, y = cb.current; x || y; x = ca.current, y = cb.current) {
    if (x && (!y || x.path < y.path)) {
      note(x.path, 'removed');
      await step(ca, found[0]);
    } else if (y && (!x || y.path < x.path)) {
      note(y.path, 'added');
      await step(cb, found[1]);
    } else {
      if (!sameContent(x!, y!)) note(y!.path, 'changed');
      await Promise.all([step(ca, found[0]), step(cb, found[1])]);
    }
  }
  return { count, first, found };
}

/** Two entries at one path hold the same thing: type, content and link target. */
export function sameContent(a: TreeEntry, b: TreeEntry): boolean {
  return a.type === b.type && a.sha256 === b.sha256 && a.target === b.target;
}

/** Entries by path, in one streamed walk of the manifest that stops past the last path asked for. */
export async function findTreeEntries(data: Buffer, paths: string[]): Promise<Map<string, TreeEntry>> {
  const wanted = new Set(paths);
  const last = [...wanted].sort().at(-1) ?? '';
  const found = new Map<string, TreeEntry>();
  for await (const batch of streamTreeEntries(data)) {
    for (const e of batch) {
      if (wanted.has(e.path)) found.set(e.path, e);
      if (found.size === wanted.size || e.path > last) return found;
    }
  }
  return found;
}

export function decodeTree(data: Buffer): TreeEntry[] {
  const out: TreeEntry[] = [];
  forEachTreeEntry(data, (e) => out.push(e));
  return out;
}
