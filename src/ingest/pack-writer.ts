/**
 * Packs many small tree files into a few large files, so a 124k-file repository costs a few dozen
 * writes (and, on object storage, a few dozen uploads) instead of 124k. A pack is the raw
 * concatenation of contents; tree manifests say which pack and offset hold each file, and each
 * file's SHA-256 verifies it on read.
 *
 * A pack is named by its content: the hash of the SHA-256s of the files in it, in order (they
 * determine its bytes). So a pull re-run after a crash packs the same new files into packs of the
 * same names and skips the ones already uploaded. While open, a pack has a temporary id (a
 * streamed large file that turns out to be known is rolled back, so bytes are not final until
 * sealed); `finish()` returns the renaming, and callers rewrite their locations with it.
 *
 * Writes are synchronous on purpose: they go to the page cache of a staging directory, and the
 * decompressor runs on another thread meanwhile; async writes would only add queueing.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { closeSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface SealedPack {
  /** The content-derived name. */
  id: string;
  /** The name locations used while the pack was open. */
  tempId: string;
  path: string;
  size: number;
}

export interface PackLocation {
  pack: string;
  offset: number;
}

export class PackWriter {
  private fd = -1;
  private id = '';
  private offset = 0;
  private streamStart = -1;
  private naming: Hash | null = null;
  /** Contents in the open pack: an empty file is a content too, and its pack must exist. */
  private contents = 0;
  readonly sealed: SealedPack[] = [];

  constructor(
    private readonly dir: string,
    private readonly targetSize = 32 << 20,
  ) {}

  /** Appends a whole content and returns where it is. */
  append(data: Buffer, sha256: string): PackLocation {
    this.ensureOpen();
    const at = { pack: this.id, offset: this.offset };
    this.writeAll(data);
    this.naming!.update(sha256);
    this.contents++;
    this.maybeSeal();
    return at;
  }

  /** Starts a content whose bytes arrive in pieces (large files); end with `endStream` or `rollback`. */
  beginStream(): PackLocation {
    this.ensureOpen();
    this.streamStart = this.offset;
    return { pack: this.id, offset: this.offset };
  }

  streamChunk(data: Buffer): void {
    this.writeAll(data);
  }

  endStream(sha256: string): void {
    this.naming!.update(sha256);
    this.contents++;
    this.streamStart = -1;
    this.maybeSeal();
  }

  /** The bytes of the content being streamed (to restore a damaged copy before a rollback). */
  readStreamed(): Buffer {
    const out = Buffer.alloc(this.offset - this.streamStart);
    readSync(this.fd, out, 0, out.length, this.streamStart);
    return out;
  }

  /** Forgets the streamed content (it was already known). */
  rollback(): void {
    this.offset = this.streamStart;
    ftruncateSync(this.fd, this.offset);
    this.streamStart = -1;
  }

  /** Seals the current pack (if any) and returns every sealed pack. */
  finish(): SealedPack[] {
    this.seal();
    return this.sealed;
  }

  /** Closes without keeping anything (the staging directory is removed by the caller). */
  abort(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private ensureOpen(): void {
    if (this.fd >= 0) return;
    this.id = randomBytes(16).toString('hex');
    this.fd = openSync(join(this.dir, `${this.id}.pack`), 'wx+');
    this.offset = 0;
    this.contents = 0;
    this.naming = createHash('sha256');
  }

  private writeAll(data: Buffer): void {
    let done = 0;
    while (done < data.length) done += writeSync(this.fd, data, done, data.length - done, this.offset + done);
    this.offset += data.length;
  }

  private maybeSeal(): void {
    if (this.offset >= this.targetSize) this.seal();
  }

  private seal(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
    const id = this.naming!.digest('hex').slice(0, 32);
    // an incident: a build whose only new content was one empty file lost its (empty) pack
    if (this.contents > 0) this.sealed.push({ id, tempId: this.id, path: join(this.dir, `${this.id}.pack`), size: this.offset });
  }
}
