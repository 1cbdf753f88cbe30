/**
 * build.json: the immutable record of one build. Everything derived about a build (its Packages
 * index, pages, published views) is regenerated from this file alone (invariant 3), so it carries
 * each package's full index entry, including the PATH and MTIME the blob keeps for life.
 */
import { GbpError } from '../errors.js';
import type { Stanza } from '../binpkg/packages-index.js';
import { keys } from '../store/keys.js';
import type { LogRecord } from './build-log.js';
import type { Store } from '../store/store.js';

export const BUILD_FORMAT = 1;

export interface PackageRecord {
  /** Where the package was in the build's PKGDIR (e.g. `app-misc/hello/hello-1.0-1.gpkg.tar`). */
  origin: string;
  sha256: string;
  size: number;
  md5: string;
  sha1: string;
  format: 'gpkg' | 'xpak';
  signed: boolean;
  /** Primary fingerprint of the trusted key whose signatures held when the package was checked. */
  signer?: string;
  /** The index entry, with PATH (relative to blobs/) and MTIME. */
  stanza: Stanza;
  /** DESCRIPTION from the metadata, for pages (Portage's own index leaves it out). */
  description?: string;
}

/**
 * How many of the packages each trusted key signed, by primary fingerprint in fingerprint order;
 * packages no trusted key vouched for are not counted.
 */
export function signerCounts(packages: PackageRecord[]): Map<string, number> {
  const count = new Map<string, number>();
  for (const p of packages) if (p.signer) count.set(p.signer, (count.get(p.signer) ?? 0) + 1);
  return new Map([...count].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
}

/** A file a build carries beside its packages (a stage4, a kernel config): aux/ of the archive, or gbp attach. */
export interface ArtifactRecord {
  /** Its path below the build's artifacts/ (aux/ of the archive), e.g. `stage4/stage4-amd64-openrc-db.tar.xz`. */
  name: string;
  size: number;
  sha256: string;
  sha512: string;
  blake2b: string;
  /** The artifact holding its detached OpenPGP signature (`<name>.asc` or `.sig`), if it has one. */
  signature?: string;
  /** Primary fingerprint of the trusted key whose signature held. */
  signer?: string;
  /** Unix seconds, for one attached after the build was recorded. */
  attached?: number;
}

export interface TreeRef {
  /** SHA-256 of the stored tree manifest (trees/<h2>/<sha>.json.gz). */
  manifest: string;
  files: number;
  bytes: number;
  /** Repositories: whether the top-level Manifest is OpenPGP-signed (absent in builds stored before gbp recorded it). */
  signedManifest?: boolean;
}

export interface BuildManifest {
  format: number;
  machine: string;
  id: string;
  /** Unix seconds when the build was ingested; its index's TIMESTAMP. */
  created: number;
  parent: string | null;
  archive: {
    source: string;
    sha256: string;
    bytes: number;
    tarBytes: number;
    compression: string;
  };
  binpkgs: {
    /** The build's own Packages header, minus what clients write and what we set. */
    header: Stanza;
    packages: PackageRecord[];
    /** The keys the site trusted when the pull checked the packages' signatures (absent: none checked). */
    trustedKeys?: string[];
  };
  trees: Record<string, TreeRef>;
  /** The job's console log (gbp pull --log, or a Jenkins URL's consoleText). */
  log?: LogRecord;
  /** Files of the archive's aux/ (absent in builds stored before gbp kept them as artifacts). */
  artifacts?: ArtifactRecord[];
  warnings: string[];
}

/** A damaged or planted build.json is a store error naming it, not a crash (exit 6, not 1). */
export function parseBuildManifest(data: Buffer, where: string): BuildManifest {
  let m: BuildManifest;
  try {
    m = JSON.parse(data.toString('utf8')) as BuildManifest;
  } catch {
    throw new GbpError('store', where, 'is not valid JSON (damaged or not written by gbp)');
  }
  if (!m || m.format !== BUILD_FORMAT) throw new GbpError('store', where, `unsupported build format ${m?.format}`);
  if (!m.binpkgs || !Array.isArray(m.binpkgs.packages) || !m.trees || typeof m.trees !== 'object' || !m.archive) {
    throw new GbpError('store', where, 'is not a build record (packages, trees or archive missing)');
  }
  return m;
}

export async function loadBuild(store: Store, machine: string, id: string): Promise<BuildManifest | null> {
  const raw = await store.get(keys.buildJson(machine, id));
  return raw ? parseBuildManifest(raw, keys.buildJson(machine, id)) : null;
}

export async function requireBuild(store: Store, machine: string, id: string): Promise<BuildManifest> {
  const build = await loadBuild(store, machine, id);
  if (!build) throw new GbpError('not-found', `${machine} ${id}`, 'the build record is missing');
  return build;
}

/** A blob's meta.json, or null when missing or torn (a crash between write and flush). */
export function readBlobMeta(raw: Buffer | null, sha256: string): PackageRecord | null {
  if (!raw) return null;
  try {
    const record = JSON.parse(raw.toString('utf8')) as PackageRecord;
    return record.sha256 === sha256 && record.stanza?.PATH ? record : null;
  } catch {
    return null;
  }
}
