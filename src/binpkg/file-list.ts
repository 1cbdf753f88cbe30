/**
 * The files a binary package installs: the member list of its image (GPKG `image.tar.<ext>`, or
 * an XPAK's tar part before its trailer), read by streaming it through the system decompressor
 * and the strict tar reader, data skipped. A package is hostile until read: the list is capped in
 * entries, and in decompressed bytes relative to the compressed size (a zstd bomb of zeros would
 * otherwise be walked for hours). A package the reader cannot list gets no list and a reason,
 * never a refused build: its other checks have passed already.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { decompress } from '../archive/decompress.js';
import { TarReader, type TarEntry } from '../archive/tar-reader.js';
import { gpkgMembers } from './gpkg.js';

export interface PackageFile {
  /** Absolute, as installed: `/usr/bin/foo`. */
  path: string;
  type: 'file' | 'symlink' | 'hardlink' | 'device' | 'fifo';
  mode: number;
  size: number;
  /** Symlink or hard link target. */
  target?: string;
}

export const MAX_PACKAGE_FILES = 500_000;
/** Real images expand 2–20×; this is far past any of them. */
const MAX_EXPANSION = 200;
const EXPANSION_FLOOR = 256 << 20;

/** Where the image's compressed bytes are in the package file. */
async function imageRange(path: string, format: 'gpkg' | 'xpak'): Promise<{ start: number; end: number }> {
  if (format === 'gpkg') {
    const image = (await gpkgMembers(path)).find((m) => /^image\.tar\.[a-z0-9]+$/.test(m.name));
    if (!image) throw new Error('no image.tar.<ext> member');
    return { start: image.offset, end: image.offset + image.size };
  }
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const tail = Buffer.alloc(8);
    await fh.read(tail, 0, 8, size - 8);
    if (tail.toString('latin1', 4, 8) !== 'STOP') throw new Error("no 'STOP' trailer");
    const end = size - 8 - tail.readUInt32BE(0);
    if (end <= 0) throw new Error('impossible XPAK segment length');
    return { start: 0, end };
  } finally {
    await fh.close();
  }
}

/** The package's installed files, sorted by path; directories are left out (every package has /usr). */
export async function listPackageFiles(path: string, format: 'gpkg' | 'xpak'): Promise<PackageFile[]> {
  const { start, end } = await imageRange(path, format);
  if (end <= start) return [];
  const limit = Math.max(EXPANSION_FLOOR, (end - start) * MAX_EXPANSION);
  const raw = createReadStream(path, { start, end: end - 1, highWaterMark: 1 << 20 });
  const { stream } = await decompress(raw as AsyncIterable<Buffer>);
  const files: PackageFile[] = [];
  const reader = new TarReader({
    entry(e: TarEntry) {
      if (e.type === 'directory') return;
      if (files.length >= MAX_PACKAGE_FILES) throw new Error(`more than ${MAX_PACKAGE_FILES} files`);
      // a GPKG image is rooted at image/ (GLEP 78), an XPAK's tar at ./
      let name = e.name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
      if (format === 'gpkg') {
        if (!name.startsWith('image/')) throw new Error(`image member '${name.slice(0, 200)}' is not under image/`);
        name = name.slice('image/'.length);
      }
      const p = `/${name}`;
      const type = e.type === 'char-device' || e.type === 'block-device' ? 'device' : e.type;
      const target = e.type === 'hardlink' && format === 'gpkg' ? `/${e.linkname.replace(/^(\.\/)*image\//, '')}` : e.linkname;
      files.push({ path: p, type, mode: e.mode & 0o7777, size: e.type === 'file' ? e.size : 0, ...(target ? { target } : {}) });
    },
    data() {},
    entryEnd() {},
  });
  let seen = 0;
  const it = stream[Symbol.asyncIterator]();
  try {
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      seen += r.value.length;
      if (seen > limit) throw new Error(`the image expands past ${limit} bytes (${MAX_EXPANSION}× its compressed size)`);
      await reader.write(r.value);
    }
  } finally {
    await it.return?.();
    raw.destroy();
  }
  reader.end();
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** One line per file, `type mode size path[ -> target]`: greppable, and gzip makes it small. */
export function encodeFileList(files: PackageFile[]): string {
  const code: Record<PackageFile['type'], string> = { file: 'f', symlink: 'l', hardlink: 'h', device: 'c', fifo: 'p' };
  return files.map((f) => `${code[f.type]} ${f.mode.toString(8).padStart(4, '0')} ${f.size} ${JSON.stringify(f.path)}${f.target !== undefined ? ` ${JSON.stringify(f.target)}` : ''}\n`).join('');
}

export function decodeFileList(text: string): PackageFile[] {
  const type: Record<string, PackageFile['type']> = { f: 'file', l: 'symlink', h: 'hardlink', c: 'device', p: 'fifo' };
  const out: PackageFile[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const m = /^([flhcp]) ([0-7]{4}) (\d+) ("(?:[^"\\]|\\.)*")(?: ("(?:[^"\\]|\\.)*"))?$/.exec(line);
    if (!m) throw new Error(`not a file list line: ${line.slice(0, 80)}`);
    out.push({ path: JSON.parse(m[4]) as string, type: type[m[1]], mode: parseInt(m[2], 8), size: Number(m[3]), ...(m[5] ? { target: JSON.parse(m[5]) as string } : {}) });
  }
  return out;
}
