/**
 * Decompresses the small inner archives of a binary package (GPKG `metadata.tar.<ext>`, the XPAK's
 * nothing: its metadata is uncompressed). zstd, Portage's default, is decoded in-process by fzstd
 * and gzip by zlib: a process per package would cost milliseconds each on a 950-package build.
 * The rarer formats go through the system's own tools.
 */
import { spawnSync } from 'node:child_process';
import { gunzipSync } from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';

export const INNER_EXTENSIONS = ['zst', 'gz', 'bz2', 'xz', 'lz4', 'lz', 'lzo'] as const;
const MAX_OUTPUT = 64 << 20;

const TOOLS: Record<string, string> = { bz2: 'bzip2', xz: 'xz', lz4: 'lz4', lz: 'lzip', lzo: 'lzop' };

/** Throws an Error with a human reason when the data cannot be decompressed. */
export function decompressSmall(ext: string, data: Buffer): Buffer {
  if (ext === 'zst') return Buffer.from(zstdDecompress(data));
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
