/**
 * Each stored package's file list (`gbp files`, `gbp which`), kept beside the blob as
 * files.txt.gz. The blob is content-addressed, so its list is written once, by the pull that
 * stored it, and read by every build that reuses it; a blob stored before lists existed (or by a
 * pull killed before listing) gets its list the first time one is asked for.
 */
import { createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import { decodeFileList, encodeFileList, listPackageFiles, type PackageFile } from '../binpkg/file-list.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/store.js';
import { forEachLimit } from '../util/pool.js';
import type { PackageRecord } from './build-manifest.js';

const UNAVAILABLE = '# unavailable: ';
/** A decompressor child each, beside the tar walk: two keep both cores of a small runner busy. */
const LISTING_PARALLEL = 2;

export interface FileList {
  files: PackageFile[];
  /** Why the package has no list (it could not be read as an image). */
  unavailable?: string;
}

async function listFrom(path: string, record: PackageRecord): Promise<FileList> {
  try {
    return { files: await listPackageFiles(path, record.format) };
  } catch (err) {
    return { files: [], unavailable: (err as Error).message.split('\n')[0].slice(0, 300) };
  }
}

function encoded(list: FileList): Buffer {
  return gzipSync(list.unavailable !== undefined ? `${UNAVAILABLE}${list.unavailable}\n` : encodeFileList(list.files));
}

async function save(store: Store, sha256: string, list: FileList): Promise<void> {
  await store.put(keys.blobFiles(sha256), encoded(list), { immutable: true, contentType: 'application/gzip' });
}

/** A package's file list as it is stored (gzipped text: a kernel's 80,000 paths held as objects would not be small). */
export interface EncodedFileList {
  sha256: string;
  gz: Buffer;
  unavailable: boolean;
}

/**
 * Lists the packages a pull is storing, from its staged copies or the store's own files. On a
 * local store a pull starts this as soon as the archive is read, so the decompressors run beside
 * its commit and its pages (into a bucket, once its uploads are done: beside them, the two held too
 * much memory together); `saveFileLists` writes the lists once the build is recorded.
 */
export async function listNewPackages(store: Store, blobs: { file: string; record: PackageRecord }[]): Promise<EncodedFileList[]> {
  const lists: EncodedFileList[] = [];
  await forEachLimit(blobs, LISTING_PARALLEL, async ({ file, record }) => {
    const list = await listBlob(store, record, file);
    // gone already (a concurrent gc): nothing to list, and nothing to say for ever
    if (list) lists.push({ sha256: record.sha256, gz: encoded(list), unavailable: list.unavailable !== undefined });
  });
  return lists;
}

/** Stores the lists `listNewPackages` made, and says how many packages could be listed and how many not. */
export async function saveFileLists(store: Store, lists: EncodedFileList[]): Promise<{ listed: number; unavailable: number }> {
  await forEachLimit(lists, 8, ({ sha256, gz }) => store.put(keys.blobFiles(sha256), gz, { immutable: true, contentType: 'application/gzip' }));
  const unavailable = lists.filter((l) => l.unavailable).length;
  return { listed: lists.length - unavailable, unavailable };
}

/** The package's file list: stored, or made now from the blob (and stored for the next reader). */
export async function packageFiles(store: Store, record: PackageRecord): Promise<FileList> {
  const raw = await store.get(keys.blobFiles(record.sha256));
  if (raw) {
    const text = gunzipSync(raw).toString('utf8');
    if (text.startsWith(UNAVAILABLE)) return { files: [], unavailable: text.slice(UNAVAILABLE.length).trim() };
    return { files: decodeFileList(text) };
  }
  const list = await listBlob(store, record);
  // a missing package file is damage for fsck and a pull to mend, not a fact about the package
  if (!list) return { files: [], unavailable: `the package file ${blobKeyOf(record)} is missing (gbp fsck)` };
  await save(store, record.sha256, list);
  return list;
}

const blobKeyOf = (record: PackageRecord) => keys.blob(record.sha256, record.stanza.PATH.split('/').pop()!);

/**
 * Lists a stored package from the first copy there is: the pull's staged file, the store's own
 * file (a directory store), or a temporary download (a bucket: the image is found by position).
 * Null when the package file is not there at all.
 */
async function listBlob(store: Store, record: PackageRecord, staged?: string): Promise<FileList | null> {
  if (staged && existsSync(staged)) {
    const list = await listFrom(staged, record);
    // a directory store takes the staged copy by rename as the commit goes on: read before, it
    // was read whole (an open file survives its rename); gone before, it is read where it went
    if (list.unavailable === undefined || existsSync(staged)) return list;
  }
  const key = blobKeyOf(record);
  const local = store.localFile?.(key);
  if (local) return existsSync(local) ? listFrom(local, record) : null;
  const dir = await mkdtemp(join(tmpdir(), 'gbp-files-'));
  try {
    const stream = await store.getStream(key);
    if (!stream) return null;
    const path = join(dir, 'package');
    await pipeline(stream, createWriteStream(path));
    return await listFrom(path, record);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
