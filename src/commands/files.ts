/**
 * `gbp files <m> <build> [glob]` and `gbp which <path> [<m>]`: which package of which build ships
 * a file, from the file lists kept beside each stored package (records/package-files.ts). A
 * package reused by many builds is read once.
 */
import { GbpError } from '../errors.js';
import { loadBuild, requireBuild, type PackageRecord } from '../records/build-manifest.js';
import { resolveBuildRef } from '../records/build-ref.js';
import { listMachines, requireState } from '../records/machine-state.js';
import { assertName } from '../records/names.js';
import { packageFiles } from '../records/package-files.js';
import type { PackageFile } from '../binpkg/file-list.js';
import type { Store } from '../store/store.js';
import { globMatcher, isGlob } from '../util/glob.js';
import { forEachLimit } from '../util/pool.js';

export interface FileRow extends PackageFile {
  package: string;
  buildId: string;
}

export interface FilesResult {
  machine: string;
  id: string;
  files: FileRow[];
  /** Packages whose image could not be read as a tar, and why. */
  unavailable: { package: string; reason: string }[];
}

const cpvOf = (p: PackageRecord) => p.stanza.CPV;
const READ_PARALLEL = 8;

export async function listFiles(store: Store, machine: string, ref: string, glob?: string): Promise<FilesResult> {
  assertName('machine name', machine);
  const id = resolveBuildRef(await requireState(store, machine), ref);
  const build = await requireBuild(store, machine, id);
  const match = glob ? globMatcher(glob) : () => true;
  const perPackage = new Map<PackageRecord, { files: PackageFile[]; unavailable?: string }>();
  await forEachLimit(build.binpkgs.packages, READ_PARALLEL, async (p) => void perPackage.set(p, await packageFiles(store, p)));
  const out: FilesResult = { machine, id, files: [], unavailable: [] };
  for (const p of build.binpkgs.packages) {
    const list = perPackage.get(p)!;
    if (list.unavailable !== undefined) out.unavailable.push({ package: cpvOf(p), reason: list.unavailable });
    for (const f of list.files) if (match(f.path)) out.files.push({ package: cpvOf(p), buildId: p.stanza.BUILD_ID ?? '', ...f });
  }
  out.files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.package < b.package ? -1 : 1));
  return out;
}

export interface WhichRow {
  package: string;
  buildId: string;
  sha256: string;
  /** The package's paths that matched (the path itself, or a glob's matches, at most 50). */
  paths: string[];
  /** Every build that ships this package, newest build first per machine. */
  builds: { machine: string; id: string; published: boolean }[];
}

const MAX_PATHS_SHOWN = 50;

export async function whichPackage(store: Store, path: string, machine?: string): Promise<WhichRow[]> {
  if (!path) throw new GbpError('usage', 'which', 'give a path, e.g. /usr/bin/python3, or a glob such as libssl.so*');
  if (machine) assertName('machine name', machine);
  const wanted = isGlob(path) ? globMatcher(path) : ((p: string) => p === (path.startsWith('/') ? path : `/${path}`).replace(/\/+$/, ''));
  const machines = machine ? [machine] : await listMachines(store);
  const bySha = new Map<string, { record: PackageRecord; builds: WhichRow['builds'] }>();
  for (const m of machines) {
    const state = await requireState(store, m);
    for (const entry of [...state.builds].reverse()) {
      const build = await loadBuild(store, m, entry.id);
      for (const p of build?.binpkgs.packages ?? []) {
        const seen = bySha.get(p.sha256) ?? { record: p, builds: [] };
        seen.builds.push({ machine: m, id: entry.id, published: state.published === entry.id });
        bySha.set(p.sha256, seen);
      }
    }
  }
  const rows: WhichRow[] = [];
  await forEachLimit([...bySha.values()], READ_PARALLEL, async ({ record, builds }) => {
    const { files } = await packageFiles(store, record);
    const paths = files.filter((f) => wanted(f.path)).map((f) => f.path);
    if (paths.length) rows.push({ package: cpvOf(record), buildId: record.stanza.BUILD_ID ?? '', sha256: record.sha256, paths: paths.slice(0, MAX_PATHS_SHOWN), builds });
  });
  return rows.sort((a, b) => (a.package < b.package ? -1 : a.package > b.package ? 1 : Number(b.buildId) - Number(a.buildId)));
}
