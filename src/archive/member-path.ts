/**
 * Pure rules for names inside a build archive. We never extract to a path the archive chooses, but
 * the names still become keys of tree manifests and, later, paths in rsync exports, so a hostile
 * name is refused here, once, for every consumer (invariant 7).
 */
import { posix } from 'node:path';

export type Section = 'binpkgs' | 'repos' | 'etc-portage' | 'var-lib-portage' | 'aux';
export const REQUIRED_SECTIONS: readonly Section[] = ['binpkgs', 'repos', 'etc-portage', 'var-lib-portage'];
const SECTION_NAMES: readonly Section[] = [...REQUIRED_SECTIONS, 'aux'];

/** Linux's PATH_MAX and NAME_MAX: longer names cannot be written out by the exporter or a client. */
export const MAX_NAME_BYTES = 4096;
export const MAX_SEGMENT_BYTES = 255;

/**
 * Returns the canonical member name (no `./` prefix, no trailing slash), '' for the archive root,
 * or an error reason. Canonical names are what every later check and manifest uses.
 */
export function canonicalMemberName(raw: string): { name: string } | { reason: string } {
  if (raw.includes('\0')) return { reason: 'name contains a NUL byte' };
  // eslint-disable-next-line no-control-regex
  const control = /[\x01-\x1f\x7f]/.exec(raw);
  if (control) return { reason: `name contains the control character 0x${control[0].charCodeAt(0).toString(16).padStart(2, '0')}` };
  // a UTF-16 unit is at most 3 bytes of UTF-8: most names need no byte count
  if (raw.length * 3 > MAX_NAME_BYTES && Buffer.byteLength(raw) > MAX_NAME_BYTES) return { reason: `name is longer than ${MAX_NAME_BYTES} bytes` };
  if (raw.startsWith('/')) return { reason: 'absolute path' };
  if (raw.includes('\\')) return { reason: 'name contains a backslash' };
  // Most names are canonical already: checked segment by segment in place, and kept as they are
  // (every member passes here; splitting and joining each was a tenth of reading a tree)
  let canonical = true;
  for (let start = 0; ; ) {
    let end = raw.indexOf('/', start);
    if (end < 0) end = raw.length;
    const length = end - start;
    if (length === 2 && raw.startsWith('..', start)) return { reason: "path contains a '..' segment" };
    if (length > MAX_SEGMENT_BYTES / 3 && Buffer.byteLength(raw.slice(start, end)) > MAX_SEGMENT_BYTES) return { reason: `a path segment is longer than ${MAX_SEGMENT_BYTES} bytes` };
    if (length === 0 || (length === 1 && raw.charCodeAt(start) === 0x2e)) canonical = false;
    if (end === raw.length) break;
    start = end + 1;
  }
  if (canonical) return { name: raw };
  // every segment passed above; '' is a directory's trailing slash or a doubled one, '.' a './' prefix
  return { name: raw.split('/').filter((s) => s !== '' && s !== '.').join('/') };
}

/** The section a canonical name belongs to, or null for the root and unknown top-level names. */
export function sectionOf(name: string): Section | null {
  for (const section of SECTION_NAMES) {
    if (name.startsWith(section) && (name.length === section.length || name.charCodeAt(section.length) === 0x2f)) return section;
  }
  return null;
}

/**
 * Where a symlink at `linkName` pointing at `target` lands, as a canonical name relative to the
 * archive root; null when it leaves the archive's own tree (absolute, or too many `..`).
 */
export function resolveLinkTarget(linkName: string, target: string): string | null {
  if (target === '' || target.startsWith('/') || target.includes('\0')) return null;
  const joined = posix.normalize(posix.join(posix.dirname(linkName), target));
  if (joined === '..' || joined.startsWith('../') || joined.startsWith('/')) return null;
  return joined === '.' ? '' : joined.replace(/\/$/, '');
}

/**
 * The tree a member belongs to: `etc-portage`, `var-lib-portage`, `repos/<repo>`, `aux/<name>`;
 * files directly under `repos/` (such as gbp.json) form the tree `repos`. Returns the tree name and
 * the path inside it ('.' for the tree's root directory).
 */
export function treeOf(name: string, section: Section | null = sectionOf(name)): { tree: string; path: string } | null {
  if (section === 'etc-portage' || section === 'var-lib-portage') {
    return { tree: section, path: name.length === section.length ? '.' : name.slice(section.length + 1) };
  }
  if (section === 'repos' || section === 'aux') {
    if (name.length === section.length) return { tree: section, path: '.' };
    const second = name.indexOf('/', section.length + 1);
    if (second < 0) return null; // decided by the caller: a directory starts a tree, a file joins `repos`
    const tree = name.slice(0, second);
    return { tree, path: name.slice(second + 1) }; // a slice shares the name's memory
  }
  return null;
}

/** Names that look different but are the same after Unicode normalisation collide on clients. */
export function normalisedKey(name: string): string {
  // ASCII is its own normal form: most names skip ICU
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(name) ? name : name.normalize('NFC');
}
