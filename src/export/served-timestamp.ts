/**
 * The `metadata/timestamp.chk` a repository target serves, so that real clients follow a rollback.
 *
 * Portage's rsync sync first fetches the server's `metadata/timestamp.chk` and compares it with its
 * own (sync/modules/rsync/rsync.py, `_do_rsync`): equal means "already current" and nothing is
 * transferred, older means "SERVER OUT OF DATE" and nothing is transferred either, newer (or a
 * first line it cannot parse, or no file) means a real sync. A rollback serves an older tree,
 * whose own timestamp is older than the client's: Portage refuses it.
 *
 * So what is served is not always the archive's own file:
 * - a machine's published target (`<m>/<repo>`) serves a stamp that only grows: when its tree
 *   changes, max(the archive's timestamp, the previous stamp + 1 s); while it stays, the same stamp
 *   (clients that are current see "already current");
 * - a tag (`<m>@<tag>/<repo>`) serves the archive's timestamp on a line Portage does not parse, so
 *   a client switching to it syncs whether the tag's build is newer or older than what it has,
 *   and a client switching back from it (its own file unparsed too) syncs as well;
 * - a tree without timestamp.chk is served as it is (Portage then always syncs).
 * Gentoo's signed Manifests list `IGNORE timestamp.chk` in metadata/Manifest (its metamanifest
 * generator writes that line), so a rewritten timestamp.chk leaves a signed tree verifiable.
 */
import type { TreeEntry } from '../records/tree-manifest.js';
import { sha256Hex } from '../util/sha256.js';

export const TIMESTAMP_PATH = 'metadata/timestamp.chk';
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Portage's TIMESTAMP_FORMAT, "%a, %d %b %Y %H:%M:%S +0000", in UTC. */
export function formatTimestamp(unix: number): string {
  const d = new Date(unix * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[d.getUTCDay()]}, ${p(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/** The unix time of a timestamp.chk's first line, or null when Portage could not read it either. */
export function parseTimestamp(text: string): number | null {
  const m = /^(?:Sun|Mon|Tue|Wed|Thu|Fri|Sat), (\d{2}) (\w{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) \+0000$/.exec(text.split('\n')[0].trim());
  const month = m ? MONTHS.indexOf(m[2]) : -1;
  if (!m || month < 0) return null;
  return Date.UTC(Number(m[3]), month, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6])) / 1000;
}

export interface Stamp {
  /** The source tree (its manifest) the stamp was issued for. */
  tree: string;
  unix: number;
}

/** The stamp a published target serves now: the same while its tree stays, a later one when it changes. */
export function nextStamp(previous: Stamp | undefined, tree: string, archiveUnix: number | null): Stamp {
  if (previous && previous.tree === tree) return previous;
  const floor = previous ? previous.unix + 1 : 0;
  return { tree, unix: Math.max(archiveUnix ?? 0, floor) };
}

/** What a tag serves: the archive's line, after words Portage cannot parse as a date. */
export function pinnedText(tag: string, build: string, archiveText: string): string {
  const original = archiveText.split('\n')[0].trim();
  return `pinned by gbp to @${tag} (build ${build}), so every sync compares trees; the archive's timestamp: ${original}\n`;
}

/** The tree with its timestamp.chk entry replaced by `text` (mtime `mtime`), and the new content. */
export function withTimestamp(entries: TreeEntry[], text: string, mtime: number): { entries: TreeEntry[]; data: Buffer } {
  const data = Buffer.from(text);
  const sha256 = sha256Hex(data);
  const out = entries.map((e) => (e.path === TIMESTAMP_PATH && e.type === 'f' ? { ...e, sha256, size: data.length, mtime, pack: null, offset: 0, xxh64: null } : e));
  return { entries: out, data };
}
