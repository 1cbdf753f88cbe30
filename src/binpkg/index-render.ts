/**
 * Renders a `Packages` index (and its `Packages.gz` twin) for a set of package records: the build's
 * own header (minus what clients write), our VERSION/TIMESTAMP/PACKAGES, and an absolute `URI`
 * into the blob pool so every PATH is `<h2>/<sha256>/<name>` without `..` (spec §1).
 */
import { gzipSync } from 'node:zlib';
import { CLIENT_ONLY_HEADER_KEYS, writePackages, type Stanza } from './packages-index.js';

export interface RenderedIndex {
  text: string;
  gz: Buffer;
  timestamp: number;
}

/** `packages`: a build's package records (records/build-manifest.ts); only their stanzas are written. */
export function renderIndex(header: Stanza, packages: readonly { stanza: Stanza }[], baseUrl: string, timestamp: number): RenderedIndex {
  const h: Stanza = { ...header };
  for (const k of [...CLIENT_ONLY_HEADER_KEYS, 'URI', 'TIMESTAMP', 'PACKAGES', 'VERSION']) delete h[k];
  h.VERSION = '0';
  h.TIMESTAMP = String(timestamp);
  h.PACKAGES = String(packages.length);
  h.URI = `${baseUrl}/blobs`;
  const text = writePackages({ header: h, entries: packages.map((p) => p.stanza) });
  return { text, gz: gzipPlain(text, timestamp), timestamp };
}

/** A plain gzip member like Portage's: no file name, header mtime = TIMESTAMP. */
export function gzipPlain(text: string, mtime: number): Buffer {
  const gz = gzipSync(Buffer.from(text, 'utf8'), { level: 9 });
  gz.writeUInt32LE(mtime >>> 0, 4);
  return gz;
}

/** The TIMESTAMP of an index text, or 0. */
export function indexTimestampOf(text: string): number {
  const m = /^TIMESTAMP: (\d+)$/m.exec(text.slice(0, text.indexOf('\n\n') + 1 || undefined));
  return m ? Number(m[1]) : 0;
}
