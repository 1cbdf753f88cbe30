/**
 * Portage's `Packages` index: reading and writing, following the client's own parser
 * (spec/portage-binhost.md §1). A block is `KEY: VALUE` lines ended by one empty line; the first
 * character after the colon is dropped unread; a second empty line in a row ends the body.
 * The writer emits only what a client reads correctly: one space after the colon, values on one
 * line with whitespace collapsed, empty values omitted, keys sorted the way Portage sorts them.
 */

export type Stanza = Record<string, string>;

export interface PackagesIndex {
  header: Stanza;
  entries: Stanza[];
}

/** Parses like Portage's `_readpkgindex` loop, so what we accept is what a client would read. */
export function parsePackages(text: string): PackagesIndex {
  const lines = text.split('\n');
  let i = 0;
  const readBlock = (): Stanza => {
    const block: Stanza = Object.create(null); // a key called __proto__ or constructor is only a key
    for (; i < lines.length; i++) {
      const line = lines[i];
      if (line === '') {
        i++;
        break;
      }
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      block[line.slice(0, colon)] = line.slice(colon + 2);
    }
    return block;
  };
  const header = readBlock();
  const entries: Stanza[] = [];
  while (i < lines.length) {
    const block = readBlock();
    if (Object.keys(block).length === 0) break;
    entries.push(block);
  }
  return { header, entries };
}

// Portage sorts entry keys by its internal names, then translates them for the file.
const SORT_NAME: Record<string, string> = { MTIME: '_mtime_', REPO: 'repository', DESC: 'DESCRIPTION' };
const sortName = (k: string) => SORT_NAME[k] ?? k;

/** Keys an entry inherits from the header when its own value would be the same. */
const INHERITED = ['CHOST', 'REPO'];
/** Defaults a client assumes for a missing key, so the key is omitted when it has that value. */
const DEFAULTS: Record<string, string> = { SLOT: '0' };
/** Written by clients into their cached copies; never published. */
export const CLIENT_ONLY_HEADER_KEYS = ['DOWNLOAD_TIMESTAMP', 'BASE_URI', 'PKGINDEX_URI'];

export function collapse(value: string): string {
  return value.replace(/\s+/g, ' ').trim();
}

function compareKeys(a: string, b: string): number {
  const x = sortName(a);
  const y = sortName(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function block(fields: Stanza, sort: (a: string, b: string) => number): string {
  let out = '';
  for (const key of Object.keys(fields).sort(sort)) {
    const value = collapse(fields[key]);
    if (value === '') continue;
    out += `${key}: ${value}\n`;
  }
  return `${out}\n`;
}

/**
 * Writes an index. Entries are sorted by CPV (stable, so instances of one CPV keep their order);
 * keys equal to an inheritable header value, or to a client default, are left out.
 */
export function writePackages(index: PackagesIndex): string {
  const header = index.header;
  let out = block(header, (a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const entries = [...index.entries].sort((a, b) => (a.CPV < b.CPV ? -1 : a.CPV > b.CPV ? 1 : 0));
  for (const entry of entries) {
    const fields: Stanza = {};
    for (const [k, v] of Object.entries(entry)) {
      if (INHERITED.includes(k) && header[k] !== undefined && collapse(header[k]) === collapse(v)) continue;
      if (DEFAULTS[k] !== undefined && collapse(v) === DEFAULTS[k]) continue;
      fields[k] = v;
    }
    out += block(fields, compareKeys);
  }
  return out;
}
