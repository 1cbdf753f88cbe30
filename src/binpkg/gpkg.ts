/**
 * Reads the metadata of a GPKG (`.gpkg.tar`, GLEP 78) from a file by walking its outer tar by
 * position: headers are read, `metadata.tar.<ext>` is read and decompressed, everything else (the
 * possibly huge `image.tar.<ext>`) is skipped unread. Checks what Portage's reader insists on:
 * `gpkg-1` first, every member under one directory, no directory members, a Manifest that names
 * every member with BLAKE2B and SHA512, and a metadata tar without directory entries.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { applyMetaRecord, decodeHeader, isZeroBlock, paddingFor, TarReader, type Pending } from '../archive/tar-reader.js';
import { decompressSmall, INNER_EXTENSIONS } from './inner-decompress.js';
import type { BinpkgMetadata } from './metadata.js';

const MAX_METADATA_BYTES = 64 << 20;
const MAX_MANIFEST_BYTES = 1 << 20;

export interface OuterMember {
  name: string;
  offset: number;
  size: number;
}

export async function readGpkgMetadata(path: string): Promise<BinpkgMetadata> {
  const fh = await open(path, 'r');
  try {
    const members = await listOuter(fh);
    if (members.length === 0) throw new Error('empty GPKG');
    const dir = members[0].name.split('/')[0];
    if (members[0].name !== `${dir}/gpkg-1`) throw new Error("the first member is not '<name>/gpkg-1'");
    for (const m of members) {
      if (!m.name.startsWith(`${dir}/`) || m.name.slice(dir.length + 1).includes('/')) {
        throw new Error(`member '${m.name}' is not directly under '${dir}/'`);
      }
    }
    const byName = new Map(members.map((m) => [m.name.slice(dir.length + 1), m]));
    const metaName = [...byName.keys()].find((n) => /^metadata\.tar\.[a-z0-9]+$/.test(n));
    if (!metaName) throw new Error('no metadata.tar.<ext> member');
    const ext = metaName.slice('metadata.tar.'.length);
    if (!(INNER_EXTENSIONS as readonly string[]).includes(ext)) throw new Error(`unsupported metadata compression '.${ext}'`);
    if (![...byName.keys()].some((n) => n.startsWith('image.tar.') && !n.endsWith('.sig'))) throw new Error('no image.tar.<ext> member');

    const manifest = byName.get('Manifest');
    if (!manifest) throw new Error('no Manifest member');
    if (manifest.size > MAX_MANIFEST_BYTES) throw new Error('Manifest is too large');
    checkManifest((await readAt(fh, manifest.offset, manifest.size)).toString('utf8'), [...byName.keys()]);

    const meta = byName.get(metaName)!;
    if (meta.size > MAX_METADATA_BYTES) throw new Error(`${metaName} is larger than ${MAX_METADATA_BYTES} bytes`);
    let tar: Buffer;
    try {
      tar = decompressSmall(ext, await readAt(fh, meta.offset, meta.size));
    } catch (err) {
      throw new Error(`${metaName} cannot be decompressed: ${(err as Error).message}`);
    }
    const values = await readMetadataTar(tar);
    return {
      format: 'gpkg',
      compression: ext,
      signed: byName.has(`${metaName}.sig`),
      values,
    };
  } finally {
    await fh.close();
  }
}

/** The outer members of a GPKG, named without their directory, with where their bytes are. */
export async function gpkgMembers(path: string): Promise<OuterMember[]> {
  const fh = await open(path, 'r');
  try {
    const members = await listOuter(fh);
    const dir = members[0]?.name.split('/')[0] ?? '';
    return members.map((m) => ({ ...m, name: m.name.slice(dir.length + 1) }));
  } finally {
    await fh.close();
  }
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, position);
  if (bytesRead !== length) throw new Error('the package is truncated');
  return buf;
}

async function listOuter(fh: FileHandle): Promise<OuterMember[]> {
  const { size: fileSize } = await fh.stat();
  const members: OuterMember[] = [];
  let pos = 0;
  let pending: Pending = {};
  for (;;) {
    if (pos + 512 > fileSize) throw new Error('the package ends without its tar end marker (truncated)');
    const block = await readAt(fh, pos, 512);
    if (isZeroBlock(block)) return members;
    const h = decodeHeader(block, pos, pending);
    const dataAt = pos + 512;
    if (dataAt + h.size > fileSize) throw new Error('the package is truncated');
    if (h.kind === 'meta') {
      applyMetaRecord(pending, h.typeflag, await readAt(fh, dataAt, h.size), dataAt);
    } else {
      pending = {};
      if (h.entry.type === 'directory') throw new Error(`directory member '${h.entry.name}' (GPKG has none)`);
      if (h.entry.type !== 'file') throw new Error(`member '${h.entry.name}' is not a regular file`);
      members.push({ name: h.entry.name, offset: dataAt, size: h.size });
    }
    pos = dataAt + h.size + paddingFor(h.size);
  }
}

/** Every member except the Manifest itself must have a DATA line with BLAKE2B and SHA512. */
function checkManifest(text: string, memberNames: string[]): void {
  const body = text.includes('-----BEGIN PGP SIGNED MESSAGE-----')
    ? text.split('\n\n').slice(1).join('\n\n').split('-----BEGIN PGP SIGNATURE-----')[0]
    : text;
  const listed = new Map<string, string[]>();
  for (const line of body.split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (parts[0] === 'DATA' && parts.length >= 3) listed.set(parts[1], parts.slice(3));
  }
  for (const name of memberNames) {
    if (name === 'Manifest') continue;
    const hashes = listed.get(name);
    if (!hashes) throw new Error(`Manifest does not list '${name}'`);
    if (!hashes.includes('BLAKE2B') || !hashes.includes('SHA512')) throw new Error(`Manifest line for '${name}' lacks BLAKE2B or SHA512`);
  }
}

/** The inner metadata tar: `metadata/<KEY>` files holding raw values. */
async function readMetadataTar(tar: Buffer): Promise<Record<string, string>> {
  const values: Record<string, string> = {};
  let current: string | null = null;
  let chunks: Buffer[] = [];
  const reader = new TarReader({
    entry(e) {
      if (e.type === 'directory') throw new Error(`metadata tar has a directory entry '${e.name}'`);
      current = e.type === 'file' && e.name.startsWith('metadata/') ? e.name.slice('metadata/'.length) : null;
      chunks = [];
    },
    data(c) {
      if (current !== null) chunks.push(c);
    },
    entryEnd() {
      if (current !== null && !current.includes('/')) values[current] = Buffer.concat(chunks).toString('utf8');
      current = null;
    },
  });
  await reader.write(tar);
  reader.end();
  return values;
}
