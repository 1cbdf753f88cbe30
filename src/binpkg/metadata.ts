/**
 * A binary package's metadata, whatever its format, and the index entry derived from it the way
 * Portage derives one (spec/portage-binhost.md §2): CPV = CATEGORY/PF, REPO from `repository`,
 * values whitespace-collapsed, empty ones dropped, plus SIZE/MD5/SHA1 of the whole file.
 */
import { readGpkgMetadata } from './gpkg.js';
import { collapse, type Stanza } from './packages-index.js';
import { readXpakMetadata } from './xpak.js';

export interface BinpkgMetadata {
  format: 'gpkg' | 'xpak';
  /** Inner compression (`zst`, `gz`, ...) for GPKG; `xpak` for XPAK. */
  compression: string;
  signed: boolean;
  /** Raw metadata values by key (text keys only are meaningful). */
  values: Record<string, string>;
}

export type BinpkgFormat = 'gpkg' | 'xpak';

/** The format a client infers from the file name; null for names Portage would not read. */
export function formatFromName(name: string): BinpkgFormat | null {
  if (name.endsWith('.gpkg.tar')) return 'gpkg';
  if (name.endsWith('.xpak') || name.endsWith('.tbz2')) return 'xpak';
  return null;
}

export async function readBinpkgMetadata(path: string, format: BinpkgFormat): Promise<BinpkgMetadata> {
  return format === 'gpkg' ? readGpkgMetadata(path) : readXpakMetadata(path);
}

/** Keys copied from the metadata into the index entry, when non-empty. */
const INDEX_KEYS = [
  'BUILD_ID', 'BUILD_TIME', 'CHOST', 'DEFINED_PHASES', 'DEPEND', 'RDEPEND', 'BDEPEND', 'PDEPEND',
  'IDEPEND', 'EAPI', 'IUSE', 'KEYWORDS', 'LICENSE', 'PROPERTIES', 'PROVIDES', 'REQUIRES',
  'RESTRICT', 'SLOT', 'USE',
];

/** Category and package names: Portage's allowed characters, never starting with '-' or '.'. */
const PORTAGE_NAME = /^[A-Za-z0-9_+][A-Za-z0-9+_.-]{0,254}$/;

export interface FileDigests {
  size: number;
  md5: string;
  sha1: string;
}

/**
 * The index entry for a package, without PATH and MTIME (which belong to where and when it was
 * stored). Throws when the metadata lacks what every entry must carry.
 */
export function stanzaFromMetadata(meta: BinpkgMetadata, file: FileDigests): Stanza {
  const v = (k: string) => collapse(meta.values[k] ?? '');
  const category = v('CATEGORY');
  const pf = v('PF');
  if (!category || !pf) throw new Error('metadata lacks CATEGORY or PF');
  // they become a path (blobs/…/<pf>-<build_id>.gpkg.tar) and a package atom: Portage's own name rules
  if (!PORTAGE_NAME.test(category)) throw new Error(`metadata CATEGORY '${category}' is not a valid category name`);
  if (!PORTAGE_NAME.test(pf)) throw new Error(`metadata PF '${pf}' is not a valid package name`);
  const stanza: Stanza = { CPV: `${category}/${pf}` };
  for (const key of INDEX_KEYS) {
    const value = v(key);
    if (value) stanza[key] = value;
  }
  if (stanza.BUILD_ID !== undefined && !/^[0-9]{1,15}$/.test(stanza.BUILD_ID)) {
    throw new Error(`metadata BUILD_ID '${stanza.BUILD_ID}' is not a number (Portage's BUILD_ID is a positive integer)`);
  }
  const repo = v('repository');
  if (repo) stanza.REPO = repo;
  stanza.SIZE = String(file.size);
  stanza.MD5 = file.md5;
  stanza.SHA1 = file.sha1;
  return stanza;
}
