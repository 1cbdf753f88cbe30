/**
 * `gbp export-rsync`: materialises, for every machine's published build and each tag, the trees
 * rsync clients sync from, and keeps them current.
 *
 *   <dest>/repos/gen-<n>/<m>/<repo>/       module `repos`: <m>/<repo>, <m>@<tag>/<repo>
 *   <dest>/etc-portage/gen-<n>/<m>/        module `etc-portage`
 *   <dest>/var-lib-portage/gen-<n>/<m>/    module `var-lib-portage`
 *   <dest>/.gbp-export/                    objects (hard-link sources), effective trees, state, lock
 *   <dest>/rsyncd.conf                     each module's path: its current generation
 *
 * Why generations and a config flip, not a symlink flip: Debian's rsync daemon resolves every
 * file's path from the module path string on each open, through any symlink (measured: a symlink
 * flipped mid-transfer gave a client 17 files of one tree and 23 of the other), and its openat2
 * (RESOLVE_BENEATH) fails with EAGAIN on `..` while anything renames. It re-reads rsyncd.conf for
 * every connection, though, and a connection keeps the module path it started with. So each module
 * is served from a generation directory nothing writes to while it can be in use, and publishing is
 * one atomic rename of rsyncd.conf: transfers in flight finish on the old generation, new ones get
 * the new. A new export is applied as a diff to the oldest generation retired longer than the grace
 * period (else a new one), so it costs what changed, not a relink of 124,000 files; going back to a
 * tree a retired generation still holds costs nothing at all.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GbpError } from '../errors.js';
import { RecordReader } from '../records/record-signatures.js';
import { decodeTree, encodeTree, treeEntries, type TreeEntry } from '../records/tree-manifest.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/store.js';
import { listMachines, readState } from '../records/machine-state.js';
import { ObjectCache } from './object-cache.js';
import { holderIsGone, lockHolder } from '../util/lock-holder.js';
import { applyTree, assertSafeTree, countChanges, entriesToWrite } from './apply-tree.js';
import { stableMtimes } from './stable-mtimes.js';
import { MODULES, rsyncdConf, type Module } from './rsyncd-conf.js';
import { formatTimestamp, nextStamp, parseTimestamp, pinnedText, TIMESTAMP_PATH, withTimestamp, type Stamp } from './served-timestamp.js';
import { readTreeFile } from '../records/tree-files.js';
import { sha256Hex } from '../util/sha256.js';

interface Source {
  machine: string;
  build: string;
  tree: string;
}

interface Generation {
  /** Effective tree id per target (`<m>/<repo>` or `<m>`) the generation holds. */
  trees: Record<string, string>;
  retiredAt: number | null;
  /** Set while being written; a generation found dirty is rebuilt from nothing. */
  dirty?: boolean;
}

interface ModuleState {
  current: string | null;
  generations: Record<string, Generation>;
  /** What each target of the current generation was made from. */
  sources: Record<string, Source>;
  /** The timestamp.chk stamp each published repository target serves (served-timestamp.ts). */
  stamps?: Record<string, Stamp>;
}

interface ExportState {
  format: 2;
  modules: Record<Module, ModuleState>;
}

export interface TargetResult {
  module: Module;
  link: string;
  machine: string | null;
  build: string | null;
  status: 'unchanged' | 'updated' | 'created' | 'removed';
  added: number;
  changed: number;
  removed: number;
}

export interface ExportResult {
  dest: string;
  dryRun: boolean;
  /** Each module's directory being served now. */
  paths: Record<Module, string | null>;
  targets: TargetResult[];
  fetched: { files: number; bytes: number };
  config: string;
}

export interface ExportOptions {
  dest: string;
  graceSeconds: number;
  /** Work out every target's change against what clients get now, and write nothing. */
  dryRun?: boolean;
  now?: () => number;
  onProgress?: (text: string) => void;
  /** Reads the published builds' records: verified against the site keys when it verifies. */
  reader?: RecordReader;
}

const seconds = () => Math.floor(Date.now() / 1000);

export async function exportRsync(store: Store, opts: ExportOptions): Promise<ExportResult> {
  const now = opts.now ?? seconds;
  const dest = opts.dest;
  const meta = join(dest, '.gbp-export');
  const dry = !!opts.dryRun;
  if (!dry) {
    mkdirSync(join(meta, 'trees'), { recursive: true });
    mkdirSync(join(meta, 'empty'), { recursive: true }); // what a module with nothing published serves
  }
  const unlock = dry ? () => {} : lock(join(meta, 'lock'));
  try {
    const statePath = join(meta, 'state.json');
    const state = loadState(statePath);
    const save = () => writeAtomic(statePath, `${JSON.stringify(state, null, 1)}\n`);
    const cache = new ObjectCache(join(meta, 'objects'));
    const results: TargetResult[] = [];
    const fetched = { files: 0, bytes: 0 };
    // cache objects a tree stopped linking; a Set, never spread: a tree holds 124,000 files and
    // spreading that many arguments overflows the stack
    const released = new Set<string>();
    const wanted = await desiredTargets(store, opts.reader ?? new RecordReader(null));

    for (const module of MODULES) {
      const ms = state.modules[module];
      const want = wanted[module];
      const current = ms.current ? ms.generations[ms.current] : null;

      // Effective trees: unchanged sources keep theirs; others get stable mtimes against what
      // clients hold now (the current generation), not against the generation being reused. Only
      // their ids are kept: each is written to the export state and read again when applied, so
      // memory holds two trees at a time however many targets changed. A dry run writes nothing
      // and keeps what it computed.
      const effective = new Map<string, { id: string; planned: TreeEntry[] | null }>();
      for (const [link, source] of want) {
        const had = ms.sources[link];
        const currentId = current?.trees[link];
        if (currentId && had && sameSource(had, source)) {
          effective.set(link, { id: currentId, planned: null });
          continue;
        }
        effective.set(link, await planTree(store, { meta, ms, module, link, source, currentId, cache, dry, verifying: !!opts.reader?.verifying }));
      }
      const desired: Record<string, string> = Object.fromEntries([...effective].map(([l, e]) => [l, e.id]));

      if (dry) {
        // the plan: each target against the tree clients get now
        for (const link of new Set([...Object.keys(current?.trees ?? {}), ...want.keys()])) {
          const source = want.get(link) ?? null;
          const before = current?.trees[link] ? loadTree(meta, current.trees[link]) : null;
          const eff = effective.get(link);
          const after = eff ? (eff.planned ?? loadTree(meta, eff.id)) : null;
          const status = !before ? 'created' : !after ? 'removed' : current!.trees[link] === eff!.id ? 'unchanged' : 'updated';
          results.push({ ...targetResult(module, link, source, status), ...countChanges(before, after ?? []) });
        }
        continue;
      }

      if (current && sameTrees(current.trees, desired) && !current.dirty) {
        ms.sources = Object.fromEntries(want);
        for (const [link, source] of want) results.push(targetResult(module, link, source, 'unchanged'));
        continue;
      }

      const name = chooseGeneration(ms, desired, now(), opts.graceSeconds);
      const gen = ms.generations[name];
      const genDir = join(dest, module, name);
      const reuse = gen && !gen.dirty && existsSync(genDir) ? gen.trees : null;
      if (!reuse) rmSync(genDir, { recursive: true, force: true });
      ms.generations[name] = { trees: reuse ?? {}, retiredAt: null, dirty: true };
      save();
      mkdirSync(genDir, { recursive: true, mode: 0o755 });

      for (const link of new Set([...Object.keys(reuse ?? {}), ...Object.keys(desired)])) {
        const before = reuse?.[link] ?? null;
        const after = desired[link] ?? null;
        const source = want.get(link) ?? null;
        const status = !current?.trees[link] ? 'created' : !after ? 'removed' : current.trees[link] === after ? 'unchanged' : 'updated';
        const result = targetResult(module, link, source, after ? status : 'removed');
        if (after && current?.trees[link] === after && before === after) {
          results.push(result);
          continue;
        }
        if (!after) {
          release(released, objectsOf(meta, before, cache));
          rmSync(join(genDir, link), { recursive: true, force: true });
          if (current?.trees[link]) results.push(result);
          continue;
        }
        if (before !== after) {
          opts.onProgress?.(`writing ${module}/${link} from ${source?.machine} ${source?.build}`);
          // the generation's tree and what clients hold now are walked, never held
          const from = before ? readTree(meta, before) : null;
          if (!from) rmSync(join(genDir, link), { recursive: true, force: true });
          const to = readTree(meta, after);
          if (!to) throw new GbpError('internal', link, 'effective tree is missing from the export state');
          // into an empty generation: what clients hold now is in the cache already, unlooked-for
          const served = !from && current?.trees[link] ? walkTree(meta, current.trees[link]) : null;
          const got = await cache.ensure(store, entriesToWrite(from && treeEntries(from), treeEntries(to)), served);
          fetched.files += got.files;
          fetched.bytes += got.bytes;
          // checked when planned (planTree), so walked here, never held whole
          const { released: freed, ...counts } = applyTree(join(genDir, link), from && treeEntries(from), treeEntries(to), cache);
          Object.assign(result, counts);
          release(released, freed);
        }
        results.push(result);
      }
      removeEmptyDirs(genDir);
      ms.generations[name] = { trees: desired, retiredAt: null };
      if (ms.current && ms.current !== name && ms.generations[ms.current]) ms.generations[ms.current].retiredAt = now();
      ms.current = name;
      ms.sources = Object.fromEntries(want);
      save();
    }

    const paths = Object.fromEntries(MODULES.map((m) => [m, state.modules[m].current ? join(dest, m, state.modules[m].current!) : null])) as Record<Module, string | null>;
    const config = join(dest, 'rsyncd.conf');
    if (dry) return { dest, dryRun: true, paths, targets: results, fetched, config };
    // The flip: one atomic rename of the config every new connection reads.
    writeAtomic(config, rsyncdConf(dest, paths));

    for (const module of MODULES) {
      for (const gone of pruneGenerations(dest, module, state.modules[module], now(), opts.graceSeconds)) {
        for (const id of Object.values(gone.trees)) release(released, objectsOf(meta, id, cache));
      }
    }
    save();
    sweepObjects(released);
    return { dest, dryRun: false, paths, targets: results, fetched, config };
  } finally {
    unlock();
  }
}

/**
 * A target's effective tree: the source's manifest, checked against its name, with the served
 * timestamp and stable mtimes applied, written to the export state. Its own function so that the
 * decoded trees die when it returns: a local of the exporter's async loop stays reachable from its
 * suspended frame until overwritten, which held a whole 124,000-entry tree through the apply.
 */
async function planTree(
  store: Store,
  p: { meta: string; ms: ModuleState; module: Module; link: string; source: Source; currentId: string | undefined; cache: ObjectCache; dry: boolean; verifying: boolean },
): Promise<{ id: string; planned: TreeEntry[] | null }> {
  const { source } = p;
  const data = await store.get(keys.tree(source.tree));
  if (!data) throw new GbpError('store', keys.tree(source.tree), `tree manifest of ${source.machine} ${source.build} is missing`);
  // named by its hash, which the build's record gives: a changed manifest is not exported
  if (sha256Hex(data) !== source.tree) {
    throw new GbpError(p.verifying ? 'untrusted' : 'store', keys.tree(source.tree), `tree manifest of ${source.machine} ${source.build} does not match its SHA-256 (changed or damaged); nothing exported`);
  }
  const own = p.module === 'repos' ? await servedTimestampOf(store, p.ms, p.link, source, decodeTree(data), p.cache, p.dry) : decodeTree(data);
  const entries = stableMtimes(own, p.currentId ? walkTree(p.meta, p.currentId) : null);
  // the one check of what may be written: every tree applied was planned here first
  assertSafeTree(`${p.module}/${p.link}`, entries, p.module === 'repos');
  const encoded = await encodeTree(entries);
  if (!p.dry && !existsSync(treePath(p.meta, encoded.sha256))) writeAtomic(treePath(p.meta, encoded.sha256), encoded.data);
  return { id: encoded.sha256, planned: p.dry ? entries : null };
}

/**
 * The tree a repository target serves: the archive's, with its timestamp.chk replaced so that
 * Portage follows a rollback or a switch to a tag (served-timestamp.ts says why and how).
 */
async function servedTimestampOf(store: Store, ms: ModuleState, link: string, source: Source, entries: TreeEntry[], cache: ObjectCache, dryRun: boolean): Promise<TreeEntry[]> {
  const chk = entries.find((e) => e.path === TIMESTAMP_PATH && e.type === 'f');
  if (!chk) return entries;
  const archiveText = (await readTreeFile(store, entries, TIMESTAMP_PATH))!.toString('utf8');
  const tag = /^[^/@]+@([^/]+)\//.exec(link)?.[1];
  let text: string;
  let mtime: number;
  if (tag) {
    text = pinnedText(tag, source.build, archiveText);
    mtime = chk.mtime;
  } else {
    ms.stamps ??= {};
    const archiveUnix = parseTimestamp(archiveText);
    const stamp = nextStamp(ms.stamps[link], source.tree, archiveUnix);
    ms.stamps[link] = stamp;
    if (stamp.unix === archiveUnix) return entries; // the archive's own file, as it is
    text = `${formatTimestamp(stamp.unix)}\n`;
    mtime = stamp.unix;
  }
  const replaced = withTimestamp(entries, text, mtime);
  if (!dryRun) cache.putSynthetic(replaced.entries.find((e) => e.path === TIMESTAMP_PATH)!, replaced.data);
  return replaced.entries;
}

function targetResult(module: Module, link: string, source: Source | null, status: TargetResult['status']): TargetResult {
  return { module, link, machine: source?.machine ?? null, build: source?.build ?? null, status, added: 0, changed: 0, removed: 0 };
}

/** What should be exported now, per module: the published build and tags of every machine. */
async function desiredTargets(store: Store, reader: RecordReader): Promise<Record<Module, Map<string, Source>>> {
  const out = Object.fromEntries(MODULES.map((m) => [m, new Map<string, Source>()])) as Record<Module, Map<string, Source>>;
  for (const machine of await listMachines(store)) {
    const state = await readState(store, machine);
    if (!state) continue;
    const names: [string, string][] = [];
    if (state.published) names.push([machine, state.published]);
    for (const [tag, id] of Object.entries(state.tags)) names.push([`${machine}@${tag}`, id]);
    for (const [name, id] of names) {
      const build = (await reader.readBuild(store, machine, id))?.build;
      if (!build) continue;
      for (const [tree, ref] of Object.entries(build.trees)) {
        const source = { machine, build: id, tree: ref.manifest };
        if (tree.startsWith('repos/')) out.repos.set(`${name}/${tree.slice('repos/'.length)}`, source);
        else if (tree === 'etc-portage' || tree === 'var-lib-portage') out[tree].set(name, source);
      }
    }
  }
  return out;
}

/** A retired generation already holding exactly these trees, else the oldest idle past the grace period, else a new one. */
function chooseGeneration(ms: ModuleState, desired: Record<string, string>, now: number, grace: number): string {
  const others = Object.entries(ms.generations).filter(([name]) => name !== ms.current);
  const exact = others.find(([, g]) => !g.dirty && sameTrees(g.trees, desired));
  if (exact) return exact[0];
  const idle = others.filter(([, g]) => g.dirty || (g.retiredAt !== null && now - g.retiredAt >= grace));
  if (idle.length) return idle.sort((a, b) => (a[1].retiredAt ?? 0) - (b[1].retiredAt ?? 0))[0][0];
  let n = 1;
  while (ms.generations[`gen-${n}`]) n++;
  return `gen-${n}`;
}

/** Keeps one idle generation per module for the next diff; removes the others after the grace period. */
function pruneGenerations(dest: string, module: Module, ms: ModuleState, now: number, grace: number): Generation[] {
  const idle = Object.entries(ms.generations)
    .filter(([name, g]) => name !== ms.current && g.retiredAt !== null && now - g.retiredAt >= grace)
    .sort((a, b) => b[1].retiredAt! - a[1].retiredAt!);
  const removed: Generation[] = [];
  for (const [name, gen] of idle.slice(1)) {
    rmSync(join(dest, module, name), { recursive: true, force: true });
    delete ms.generations[name];
    removed.push(gen);
  }
  return removed;
}

function* objectsOf(meta: string, treeId: string | null, cache: ObjectCache): Generator<string> {
  for (const e of (treeId && walkTree(meta, treeId)) || []) if (e.type === 'f') yield cache.pathOf(e);
}

function release(released: Set<string>, objects: Iterable<string>): void {
  for (const p of objects) released.add(p);
}

/**
 * Removes released objects no exported tree links any more (link count 1: only the cache's own
 * name). Only candidates are looked at, never the whole cache.
 */
function sweepObjects(candidates: Set<string>): void {
  for (const p of candidates) {
    try {
      if (statSync(p).nlink === 1) rmSync(p, { force: true });
    } catch {
      // already gone
    }
  }
}

/** Machine directories left empty when their last target went. */
function removeEmptyDirs(genDir: string): void {
  for (const name of readdirSync(genDir)) {
    const p = join(genDir, name);
    if (statSync(p).isDirectory() && readdirSync(p).length === 0) rmSync(p, { recursive: true });
  }
}

function loadState(path: string): ExportState {
  if (existsSync(path)) {
    const s = JSON.parse(readFileSync(path, 'utf8')) as ExportState;
    if (s.format === 2) return s;
  }
  return { format: 2, modules: Object.fromEntries(MODULES.map((m) => [m, { current: null, generations: {}, sources: {} }])) as Record<Module, ModuleState> };
}

function sameSource(a: Source, b: Source): boolean {
  return a.machine === b.machine && a.build === b.build && a.tree === b.tree;
}

function sameTrees(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

const treePath = (meta: string, id: string) => join(meta, 'trees', `${id}.json.gz`);

/** A tree of the export state, checked against its name (null when absent or damaged). */
function readTree(meta: string, id: string): Buffer | null {
  if (!existsSync(treePath(meta, id))) return null;
  const data = readFileSync(treePath(meta, id));
  return sha256Hex(data) === id ? data : null;
}

function loadTree(meta: string, id: string): TreeEntry[] | null {
  const data = readTree(meta, id);
  return data && decodeTree(data);
}

/** The entries one at a time, for a tree only compared against. */
function walkTree(meta: string, id: string): Iterable<TreeEntry> | null {
  const data = readTree(meta, id);
  return data && treeEntries(data);
}

function writeAtomic(path: string, data: string | Buffer): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/**
 * One exporter per destination at a time; a lock whose process is gone is taken over. Not the
 * store's lock (fs-store.ts): the destination is always a local directory, held for a whole export
 * rather than one compare-and-swap, and a second exporter must fail at once (exit 4), not wait.
 */
function lock(path: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      closeSync(openSync(path, 'wx'));
      writeFileSync(path, lockHolder());
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readFileSync(path, 'utf8');
      if (holderIsGone(holder)) rmSync(path, { force: true });
      else throw new GbpError('conflict', path, `another export (${holder}) is running on this destination`);
    }
  }
  throw new GbpError('conflict', path, 'could not take the export lock');
}
