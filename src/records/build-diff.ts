/**
 * What changed between two builds of a machine, the way a person bisecting a bad package asks it:
 * per package (category/name and slot), the newest instance in each build is compared, so a
 * package is added, removed, upgraded, downgraded, rebuilt (same version, another instance) or
 * unchanged; plus the binary package instances that appeared or went, the world file, the
 * configuration files, and each repository's snapshot (timestamp.chk, file count changed).
 */
import type { BuildManifest, PackageRecord } from './build-manifest.js';
import { loadTreeEntries, loadTreeManifest, readEntryFile, readTreeFile, type TreeCache } from './tree-files.js';
import { findTreeEntries, listTreeChanges, sameContent, type TreeEntry } from './tree-manifest.js';
import { compareVersions, parseCpv } from '../binpkg/version.js';
import type { Store } from '../store/store.js';

export type ChangeKind = 'added' | 'removed' | 'upgraded' | 'downgraded' | 'rebuilt';

export interface Instance {
  cpv: string;
  buildId: string;
}

export interface PackageChange {
  /** `category/name`, with `:slot` when the slot is not 0. */
  package: string;
  change: ChangeKind;
  from: Instance | null;
  to: Instance | null;
}

export interface FileChanges {
  added: string[];
  removed: string[];
  changed: string[];
}

export interface RepoChange {
  repo: string;
  /** metadata/timestamp.chk of each build's snapshot. */
  from: string | null;
  to: string | null;
  /** The source commit, when the repo job wrote one into metadata/build.json. */
  fromCommit: string | null;
  toCommit: string | null;
  filesChanged: number;
  /** The first changed paths, in path order (at most MAX_LISTED_REPO_CHANGES). */
  changedFiles: { path: string; change: 'added' | 'removed' | 'changed' }[];
}

/** A repository's changed files listed per build: a page shows these, and counts the rest. */
export const MAX_LISTED_REPO_CHANGES = 200;

export interface BuildDiff {
  machine: string;
  from: string;
  to: string;
  packages: PackageChange[];
  instances: { added: Instance[]; removed: Instance[] };
  world: { added: string[]; removed: string[] };
  config: FileChanges;
  repos: RepoChange[];
}

const slotOf = (p: PackageRecord) => (p.stanza.SLOT ?? '0').split('/')[0];

/** Package key → its newest instance (highest version, then highest BUILD_ID). */
export function newestInstances(packages: PackageRecord[]): Map<string, PackageRecord> {
  const out = new Map<string, PackageRecord>();
  for (const p of packages) {
    const cpv = parseCpv(p.stanza.CPV);
    const slot = slotOf(p);
    const key = `${cpv ? `${cpv.category}/${cpv.pn}` : p.stanza.CPV}${slot === '0' ? '' : `:${slot}`}`;
    const have = out.get(key);
    if (!have || newer(p, have)) out.set(key, p);
  }
  return out;
}

function newer(a: PackageRecord, b: PackageRecord): boolean {
  const va = parseCpv(a.stanza.CPV)?.version ?? '';
  const vb = parseCpv(b.stanza.CPV)?.version ?? '';
  const c = compareVersions(va, vb);
  return c > 0 || (c === 0 && Number(a.stanza.BUILD_ID ?? 0) > Number(b.stanza.BUILD_ID ?? 0));
}

const instance = (p: PackageRecord): Instance => ({ cpv: p.stanza.CPV, buildId: p.stanza.BUILD_ID ?? '' });

/** How many packages each kind of change touched. */
export function countPackageChanges(changes: PackageChange[]): Record<ChangeKind, number> {
  const out: Record<ChangeKind, number> = { added: 0, removed: 0, upgraded: 0, downgraded: 0, rebuilt: 0 };
  for (const c of changes) out[c.change]++;
  return out;
}

export function diffPackages(a: PackageRecord[], b: PackageRecord[]): PackageChange[] {
  const before = newestInstances(a);
  const after = newestInstances(b);
  const changes: PackageChange[] = [];
  for (const key of [...new Set([...before.keys(), ...after.keys()])].sort()) {
    const x = before.get(key);
    const y = after.get(key);
    if (x && y && x.sha256 === y.sha256) continue;
    let change: ChangeKind;
    if (!x) change = 'added';
    else if (!y) change = 'removed';
    else {
      const c = compareVersions(parseCpv(y.stanza.CPV)?.version ?? '', parseCpv(x.stanza.CPV)?.version ?? '');
      change = c > 0 ? 'upgraded' : c < 0 ? 'downgraded' : 'rebuilt';
    }
    changes.push({ package: key, change, from: x ? instance(x) : null, to: y ? instance(y) : null });
  }
  return changes;
}

function diffInstances(a: PackageRecord[], b: PackageRecord[]): BuildDiff['instances'] {
  const key = (p: PackageRecord) => `${p.stanza.CPV} ${p.stanza.BUILD_ID ?? ''} ${p.sha256}`;
  const ka = new Set(a.map(key));
  const kb = new Set(b.map(key));
  return { added: b.filter((p) => !ka.has(key(p))).map(instance), removed: a.filter((p) => !kb.has(key(p))).map(instance) };
}

export function diffTrees(a: TreeEntry[] | null, b: TreeEntry[] | null): FileChanges {
  const ma = new Map((a ?? []).filter((e) => e.type !== 'd').map((e) => [e.path, e]));
  const mb = new Map((b ?? []).filter((e) => e.type !== 'd').map((e) => [e.path, e]));
  const out: FileChanges = { added: [], removed: [], changed: [] };
  for (const [path, e] of mb) {
    const o = ma.get(path);
    if (!o) out.added.push(path);
    else if (!sameContent(o, e)) out.changed.push(path);
  }
  for (const path of ma.keys()) if (!mb.has(path)) out.removed.push(path);
  for (const list of Object.values(out)) list.sort();
  return out;
}

/** The files a repository snapshot says itself in: metadata/timestamp.chk, and the commit a repository job recorded in metadata/build.json. */
const MARK_FILES = ['metadata/timestamp.chk', 'metadata/build.json'];

/**
 * What a repository snapshot says of itself: metadata/timestamp.chk, and the commit a repository
 * job recorded in metadata/build.json (`commit`, or `revision`). One walk of the stored manifest.
 */
export async function repoMarks(store: Store, manifest: Buffer | null): Promise<{ timestamp: string | null; commit: string | null }> {
  if (!manifest) return { timestamp: null, commit: null };
  return marksOf(store, await findTreeEntries(manifest, MARK_FILES));
}

/** The marks from the snapshot's entries for MARK_FILES, found by whatever walk read the tree. */
async function marksOf(store: Store, found: Map<string, TreeEntry>): Promise<{ timestamp: string | null; commit: string | null }> {
  const stamp = await readEntryFile(store, found.get(MARK_FILES[0]) ?? null, MARK_FILES[0]);
  const raw = await readEntryFile(store, found.get(MARK_FILES[1]) ?? null, MARK_FILES[1]);
  return { timestamp: stamp?.toString('utf8').trim() ?? null, commit: raw ? commitIn(raw) : null };
}

function commitIn(raw: Buffer): string | null {
  try {
    const j = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
    const c = j.commit ?? j.revision;
    return typeof c === 'string' ? c : null;
  } catch {
    return null;
  }
}

/** The build's world file, one atom or set per entry. */
export async function worldOf(store: Store, build: BuildManifest, cache?: TreeCache): Promise<string[]> {
  const text = (await readTreeFile(store, await loadTreeEntries(store, build, 'var-lib-portage', cache), 'world'))?.toString('utf8') ?? '';
  return text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
}

export async function diffBuilds(store: Store, a: BuildManifest, b: BuildManifest, cache?: TreeCache): Promise<BuildDiff> {
  const [wa, wb] = await Promise.all([worldOf(store, a, cache), worldOf(store, b, cache)]);
  const config = diffTrees(await loadTreeEntries(store, a, 'etc-portage', cache), await loadTreeEntries(store, b, 'etc-portage', cache));
  const repos: RepoChange[] = [];
  const names = [...new Set([...Object.keys(a.trees), ...Object.keys(b.trees)])].filter((t) => t.startsWith('repos/')).sort();
  for (const name of names) {
    if (a.trees[name]?.manifest === b.trees[name]?.manifest) continue;
    // repositories are large: compared as two walks of their manifests, neither held decoded
    const [ta, tb] = [await loadTreeManifest(store, a, a.trees[name]?.manifest), await loadTreeManifest(store, b, b.trees[name]?.manifest)];
    // one walk of each: the changes, and the marks on the way
    const changes = await listTreeChanges(ta, tb, MAX_LISTED_REPO_CHANGES, MARK_FILES);
    const [ma, mb] = await Promise.all([marksOf(store, changes.found[0]), marksOf(store, changes.found[1])]);
    repos.push({
      repo: name.slice('repos/'.length),
      from: ma.timestamp,
      to: mb.timestamp,
      fromCommit: ma.commit,
      toCommit: mb.commit,
      filesChanged: changes.count,
      changedFiles: changes.first,
    });
  }
  return {
    machine: b.machine,
    from: a.id,
    to: b.id,
    packages: diffPackages(a.binpkgs.packages, b.binpkgs.packages),
    instances: diffInstances(a.binpkgs.packages, b.binpkgs.packages),
    world: { added: wb.filter((x) => !wa.includes(x)), removed: wa.filter((x) => !wb.includes(x)) },
    config,
    repos,
  };
}
