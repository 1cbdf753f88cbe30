/**
 * Decompresses the small inner archives of a binary package (GPKG `metadata.tar.<ext>`, the XPAK's
 * nothing: its metadata is uncompressed). zstd, Portage's default, is decoded in-process by fzstd
 * and gzip by zlib: a process per package would cost milliseconds each on a 950-package build.
 * The rarer formats go through the system's own tools. Every format has an output limit: a 7.5 KB
 * package once declared gigabytes of zstd metadata. fzstd has no limit of its own, so the zstd
 * frames are walked first (headers and block sizes only, no decoding) for a bound on what they can
 * produce and on the window each frame would allocate.
 */
import { spawnSync } from 'node:child_process';
import { gunzipSync } from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';

export const INNER_EXTENSIONS = ['zst', 'gz', 'bz2', 'xz', 'lz4', 'lz', 'lzo'] as const;
/** Package metadata is kilobytes; its largest part, the build environment, stays compressed inside. */
export const MAX_OUTPUT = 16 << 20;

const TOOLS: Record<string, string> = { bz2: 'bzip2', xz: 'xz', lz4: 'lz4', lz: 'lzip', lzo: 'lzop' };

/** Throws an Error with a human reason when the data cannot be decompressed. */
export function decompressSmall(ext: string, data: Buffer): Buffer {
  if (ext === 'zst') {
    const bound = zstdOutputBound(data);
    if (bound > MAX_OUTPUT) throw new Error(`the zstd data could expand to ${bound} bytes, over the ${MAX_OUTPUT}-byte limit for package metadata`);
    return Buffer.from(zstdDecompress(data));
  }
  if (ext === 'gz') return gunzipSync(data, { maxOutputLength: MAX_OUTPUT });
  const tool = TOOLS[ext];
  if (!tool) throw new Error(`unknown compression '.${ext}'`);
  const r = spawnSync(tool, ['-dc'], { input: data, maxBuffer: MAX_OUTPUT });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `'${tool}' is not installed` : r.error.message);
  }
  if (r.status !== 0) throw new Error(`${tool}: ${r.stderr.toString().trim() || `exit ${r.status}`}`);
  return r.stdout;
}

const ZSTD_MAGIC = 0xfd2fb528;
const BLOCK_MAX = 128 << 10;

/**
 * The most bytes zstd frames can decode to, and at least the largest buffer a frame makes the
 * decoder allocate (its declared content size or window), from the frame and block headers alone
 * (RFC 8878 §3.1). Throws on data that is not well-formed zstd.
 */
export function zstdOutputBound(data: Uint8Array): number {
  let pos = 0;
  let total = 0;
  const need = (n: number) => {
    if (pos + n > data.length) throw new Error('the zstd data is truncated');
  };
  while (pos < data.length) {
    need(8);
    const magic = (data[pos] | (data[pos + 1] << 8) | (data[pos + 2] << 16) | (data[pos + 3] << 24)) >>> 0;
    if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) {
      // a skippable frame: 4-byte size, then that many bytes
      const size = (data[pos + 4] | (data[pos + 5] << 8) | (data[pos + 6] << 16) | (data[pos + 7] << 24)) >>> 0;
      pos += 8 + size;
      need(0);
      continue;
    }
    if (magic !== ZSTD_MAGIC) throw new Error('not zstd data');
    const fhd = data[pos + 4];
    const singleSegment = (fhd >> 5) & 1;
    const fcsFlag = fhd >> 6;
    const dictBytes = [0, 1, 2, 4][fhd & 3];
    const checksum = (fhd >> 2) & 1;
    pos += 5;
    let window = 0;
    if (!singleSegment) {
      const wd = data[pos++];
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
    }
    pos += dictBytes;
    const fcsBytes = fcsFlag === 0 ? singleSegment : 1 << fcsFlag;
    need(fcsBytes);
    let contentSize = 0;
    for (let i = 0; i < fcsBytes; i++) contentSize += data[pos + i] * 2 ** (8 * i);
    if (fcsBytes === 2) contentSize += 256;
    pos += fcsBytes;
    total = Math.max(total, window, contentSize); // what the decoder allocates for this frame
    let frameOut = 0;
    for (let last = 0; !last; ) {
      need(3);
      const header = data[pos] | (data[pos + 1] << 8) | (data[pos + 2] << 16);
      pos += 3;
      last = header & 1;
      const type = (header >> 1) & 3;
      const size = header >>> 3;
      if (type === 3) throw new Error('the zstd data has a reserved block type');
      if (type === 0) pos += size; // raw
      else if (type === 1) pos += 1; // RLE: one byte, repeated `size` times
      else pos += size; // compressed: regenerates at most one block
      need(0);
      frameOut += type === 2 ? Math.min(BLOCK_MAX, window || contentSize || BLOCK_MAX) : size;
    }
    pos += checksum * 4;
    need(0);
    total += frameOut;
  }
  return total;
}
