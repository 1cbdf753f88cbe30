/**
 * The embedded default: a store in a local directory. A write goes to a temp file under `.tmp/`
 * (same filesystem), is fsynced, then renamed into place, and the directory is fsynced: complete or
 * invisible (invariant 2). `putIfAbsent` uses link(2), which fails when the name exists.
 * Compare-and-swap holds a lock file (O_EXCL) around read-compare-rename (invariant 5); the version
 * is the SHA-256 of the content, so it behaves like an ETag. Deferred writes skip their own
 * fsyncs and are remembered; `barrier()` fsyncs exactly those files and directories, many at once,
 * so the filesystem groups them into a few journal commits instead of one per object, and a pull
 * never pays for other processes' dirty data (as a whole-filesystem syncfs would).
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { GbpError } from '../errors.js';
import type { PutOptions, Store, Versioned } from './store.js';
import { forEachLimit } from '../util/pool.js';
import { holderIsGone, isAlive, lockHolder } from '../util/lock-holder.js';
import { makeDirs } from '../util/make-dirs.js';
import { sha256Hex } from '../util/sha256.js';

const TMP = '.tmp';
const LOCK_STALE_MS = 60_000;

export class FsStore implements Store {
  readonly location: string;
  readonly kind = 'directory';
  /** Deferred writes not yet flushed: temp files (by temp path), placed files, their directories. */
  private readonly unsyncedData = new Set<string>();
  private readonly unsyncedFiles = new Set<string>();
  private readonly unsyncedDirs = new Set<string>();

  constructor(readonly root: string) {
    this.location = root;
  }

  private path(key: string): string {
    if (key.startsWith('/') || key.split('/').includes('..') || key.includes('\0')) {
      throw new GbpError('internal', key, 'refusing a store key outside the store');
    }
    return join(this.root, ...key.split('/'));
  }

  localFile(key: string): string {
    return this.path(key);
  }

  async get(key: string): Promise<Buffer | null> {
    try {
      return await fs.readFile(this.path(key));
    } catch (err) {
      return missing(err, key);
    }
  }

  async getRange(key: string, offset: number, length: number): Promise<Buffer> {
    const fh = await fs.open(this.path(key), 'r').catch((err): never => {
      throw fail(err, key);
    });
    try {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      if (bytesRead !== length) throw new GbpError('store', key, `short read at ${offset}+${length}`);
      return buf;
    } finally {
      await fh.close();
    }
  }

  async getStream(key: string): Promise<Readable | null> {
    const p = this.path(key);
    try {
      await fs.access(p);
    } catch (err) {
      return missing(err, key);
    }
    return createReadStream(p);
  }

  async exists(key: string): Promise<boolean> {
    try {
      await fs.access(this.path(key));
      return true;
    } catch (err) {
      return (await missing(err, key)) ?? false;
    }
  }

  async stat(key: string): Promise<{ size: number; mtime: number } | null> {
    try {
      const st = await fs.stat(this.path(key));
      return { size: st.size, mtime: Math.floor(st.mtimeMs / 1000) };
    } catch (err) {
      return missing(err, key);
    }
  }

  async put(key: string, data: Buffer | string, options: PutOptions = {}): Promise<void> {
    const tmp = await this.writeTemp(data, options);
    await this.placeFile(tmp, key, 'replace', options);
  }

  async putFile(key: string, localPath: string, options: PutOptions = {}): Promise<void> {
    if (!options.deferSync) await fsyncPath(localPath);
    else this.unsyncedFiles.add(this.path(key));
    if (options.mtime !== undefined) await fs.utimes(localPath, options.mtime, options.mtime);
    await this.placeFile(localPath, key, 'replace', options);
  }

  async putCopy(key: string, localPath: string, options: PutOptions = {}): Promise<void> {
    const tmp = await this.tempPath('copy');
    try {
      await fs.copyFile(localPath, tmp, fs.constants.COPYFILE_EXCL | fs.constants.COPYFILE_FICLONE);
    } catch (err) {
      throw fail(err, localPath);
    }
    await this.putFile(key, tmp, options);
  }

  async copyWithin(from: string, to: string, options: PutOptions = {}): Promise<boolean> {
    const tmp = await this.tempPath('link');
    try {
      await fs.link(this.path(from), tmp);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw fail(err, from);
    }
    await this.placeFile(tmp, to, 'replace', options);
    return true;
  }

  async putIfAbsent(key: string, data: Buffer | string, options: PutOptions = {}): Promise<boolean> {
    const tmp = await this.writeTemp(data, options);
    return this.placeFile(tmp, key, 'exclusive', options);
  }

  async barrier(): Promise<void> {
    const files = [...this.unsyncedFiles];
    const dirs = [...this.unsyncedDirs];
    this.unsyncedFiles.clear();
    this.unsyncedDirs.clear();
    try {
      await forEachLimit(files, 16, fsyncPath);
      await forEachLimit(dirs, 16, fsyncPath);
    } catch (err) {
      throw fail(err, this.root);
    }
  }

  async getVersioned(key: string): Promise<Versioned | null> {
    const data = await this.get(key);
    return data ? { data, version: versionOf(data) } : null;
  }

  async putIfVersion(key: string, data: Buffer | string, expected: string | null, options: PutOptions = {}): Promise<boolean> {
    const target = this.path(key);
    await makeDirs(dirname(target));
    const lock = `${target}.lock`;
    await acquireLock(lock, key);
    try {
      const current = await this.getVersioned(key);
      if ((current?.version ?? null) !== expected) return false;
      await this.put(key, data, options);
      return true;
    } finally {
      await fs.rm(lock, { force: true });
    }
  }

  async *list(prefix: string): AsyncIterable<string> {
    const base = this.path(prefix.replace(/\/$/, '') || '.');
    let entries: import('node:fs').Dirent[];
    try {
      entries = await fs.readdir(base, { withFileTypes: true, recursive: true });
    } catch (err) {
      if ((await missing(err, prefix)) === null) return;
      throw err;
    }
    for (const e of entries) {
      if (!e.isFile()) continue;
      const full = join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
      const rel = full.slice(this.root.length + 1).split(sep).join('/');
      if (rel.startsWith(`${TMP}/`) || rel.endsWith('.lock')) continue;
      yield rel;
    }
  }

  /** Also removes the directories the deletion leaves empty, so a key prefix can disappear whole. */
  async delete(key: string): Promise<void> {
    const p = this.path(key);
    await fs.rm(p, { force: true });
    for (let dir = dirname(p); dir.length > this.root.length; dir = dirname(dir)) {
      try {
        await fs.rmdir(dir);
      } catch {
        break; // not empty (or already gone): its parents are not empty either
      }
    }
  }

  /** `.tmp/` is the store's private scratch area: never served, never listed. */
  async createStaging(): Promise<string> {
    const dir = join(this.root, TMP, `stage-${process.pid}-${randomBytes(6).toString('hex')}`);
    await makeDirs(dir);
    return dir;
  }

  async disposeStaging(dir: string): Promise<void> {
    await fs.rm(dir, { recursive: true, force: true });
  }

  /** Staging and temp files of processes that are gone (killed pulls and publishes). */
  async recover(): Promise<void> {
    const names = await fs.readdir(join(this.root, TMP)).catch(() => [] as string[]);
    for (const name of names) {
      const pid = Number(/^(?:stage|put)-(\d+)-/.exec(name)?.[1]);
      if (!pid || pid === process.pid || isAlive(pid)) continue;
      await fs.rm(join(this.root, TMP, name), { recursive: true, force: true });
    }
  }

  private async writeTemp(data: Buffer | string, options: PutOptions): Promise<string> {
    const tmp = await this.tempPath('put');
    const fh = await fs.open(tmp, 'wx');
    try {
      await fh.writeFile(data);
      if (!options.deferSync) await fh.sync();
      else this.unsyncedData.add(tmp);
    } finally {
      await fh.close();
    }
    if (options.mtime !== undefined) await fs.utimes(tmp, options.mtime, options.mtime);
    return tmp;
  }

  /** A fresh name in the store's temp directory (same filesystem: a rename or link places it). */
  private async tempPath(prefix: string): Promise<string> {
    const dir = join(this.root, TMP);
    await makeDirs(dir);
    return join(dir, `${prefix}-${process.pid}-${randomBytes(8).toString('hex')}`);
  }

  /** Renames (or, exclusively, links) a complete temp file into place and syncs the directory. */
  private async placeFile(tmp: string, key: string, mode: 'replace' | 'exclusive', options: PutOptions): Promise<boolean> {
    const target = this.path(key);
    const dir = dirname(target);
    try {
      await makeDirs(dir);
      if (mode === 'exclusive') {
        try {
          await fs.link(tmp, target);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
            this.unsyncedData.delete(tmp);
            return false;
          }
          throw err;
        } finally {
          await fs.rm(tmp, { force: true });
        }
      } else {
        await fs.rename(tmp, target);
      }
      if (this.unsyncedData.delete(tmp)) this.unsyncedFiles.add(target);
      // The file's directory, and its parent in case the directory itself is new (blobs/ab/<sha>/).
      if (!options.deferSync) await Promise.all([fsyncPath(dir), fsyncPath(dirname(dir))]);
      else this.unsyncedDirs.add(dir).add(dirname(dir));
      return true;
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw fail(err, key);
    }
  }
}

export function versionOf(data: Buffer): string {
  return sha256Hex(data);
}

/** fsync(2) of a file, or of a directory (which makes the names in it durable). */
async function fsyncPath(path: string): Promise<void> {
  const fh = await fs.open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * The store's one lock (a bucket has conditional writes, or s3-lease-lock.ts where it has none).
 * A lock whose holder died on this host is broken at once, one held from another host (a shared
 * filesystem) only after LOCK_STALE_MS (util/lock-holder.ts). Either way the state it guarded is
 * intact: writes under the lock are renames.
 */
async function acquireLock(lock: string, key: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  const me = lockHolder();
  for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
    try {
      const fh = await fs.open(lock, 'wx');
      await fh.writeFile(me);
      await fh.close();
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fail(err, key);
    }
    const holder = await fs.readFile(lock, 'utf8').catch(() => '');
    const st = await fs.stat(lock).catch(() => null);
    const deadHere = holderIsGone(holder);
    if (st && (deadHere || Date.now() - st.mtimeMs > LOCK_STALE_MS)) {
      await fs.rm(lock, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new GbpError('store', key, 'timed out waiting for the lock held by another process');
    await new Promise((r) => setTimeout(r, delay + Math.random() * delay));
  }
}

async function missing(err: unknown, key: string): Promise<null> {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return null;
  throw fail(err, key);
}

function fail(err: unknown, key: string): GbpError {
  if (err instanceof GbpError) return err;
  const e = err as NodeJS.ErrnoException;
  return new GbpError('store', key, e.code ? `${e.code}: ${e.message}` : String(err));
}
