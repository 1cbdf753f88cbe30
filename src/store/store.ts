/**
 * The one storage interface. Every backend (a local directory, fs-store.ts; an S3-compatible bucket, s3-store.ts)
 * keeps the same keys (store/keys.ts) and honours this contract, which the conformance suite in
 * test/store/ checks:
 *
 * - A write is complete or invisible: readers never see a partial object (temp + fsync + rename).
 * - `putIfAbsent` creates only when the key does not exist, atomically: of two racing writers
 *   exactly one wins.
 * - `getVersioned` / `putIfVersion` are compare-and-swap on one key (invariant 5): the write
 *   succeeds only when the key still holds the version that was read (null: still absent).
 * - `list` never needs to enumerate the whole store: callers list a narrow prefix.
 * - A write is durable when its call returns, unless it asked for `deferSync`: then it is durable
 *   once the next `barrier()` returns. Writers batch many objects and call `barrier()` before
 *   anything references them (invariant 1), instead of paying a disk flush per object.
 * - Missing keys are `null` / `false`, never exceptions; everything else that fails throws a
 *   GbpError with code 'store'.
 */
import type { Readable } from 'node:stream';

export interface PutOptions {
  /** MIME type for servers that serve the store (ignored by the local directory). */
  contentType?: string;
  /** Content that never changes under this key: caches may keep it forever. */
  immutable?: boolean;
  /** Modification time in unix seconds (a Packages file's mtime must equal its TIMESTAMP). */
  mtime?: number;
  /** Durable only after the next `barrier()` (see the contract above). */
  deferSync?: boolean;
  /**
   * The content's SHA-256, when the caller knows it (a blob's name carries it): a bucket then
   * hashes nothing, and the server checks the bytes against it.
   */
  sha256?: string;
}

export interface Versioned {
  data: Buffer;
  version: string;
}

export interface Store {
  /** Where the store is, for messages. */
  readonly location: string;
  /** A bucket's content can be written by anyone holding its credentials: readers verify it (records/record-signatures.ts). */
  readonly kind: 'directory' | 'bucket';
  get(key: string): Promise<Buffer | null>;
  getRange(key: string, offset: number, length: number): Promise<Buffer>;
  getStream(key: string): Promise<Readable | null>;
  exists(key: string): Promise<boolean>;
  /** Size and modification time (unix seconds), or null when absent. */
  stat(key: string): Promise<{ size: number; mtime: number } | null>;
  put(key: string, data: Buffer | string, options?: PutOptions): Promise<void>;
  /** Moves a staged file (from `stagingDir`) into the store; the staged file is consumed. */
  putFile(key: string, localPath: string, options?: PutOptions): Promise<void>;
  /**
   * Stores a copy of a file that stays where it is (another store's, read in place): a bucket
   * uploads it as it reads it; a directory copies it (a reflink where it can), never links it.
   */
  putCopy(key: string, localPath: string, options?: PutOptions): Promise<void>;
  putIfAbsent(key: string, data: Buffer | string, options?: PutOptions): Promise<boolean>;
  /**
   * Another name for an object of this store, without sending its bytes (a hard link on disk, a
   * server-side copy in a bucket). False when `from` is absent or too large to copy so (5 GiB in S3).
   */
  copyWithin(from: string, to: string, options?: PutOptions): Promise<boolean>;
  getVersioned(key: string): Promise<Versioned | null>;
  /** `expected` null means "only if the key does not exist yet". Returns false when it lost. */
  putIfVersion(key: string, data: Buffer | string, expected: string | null, options?: PutOptions): Promise<boolean>;
  /** Keys below a prefix, in no particular order. */
  list(prefix: string): AsyncIterable<string>;
  delete(key: string): Promise<void>;
  /** Returns once every write made so far, deferred or not, is durable. */
  barrier(): Promise<void>;
  /** Removes what writers that died left in the backend's private areas (staging, temp files). */
  recover(): Promise<void>;
  /** A private directory for files on their way into the store; removed by `dispose`. */
  createStaging(): Promise<string>;
  disposeStaging(dir: string): Promise<void>;
  /** The object's file on this machine, where the backend keeps it in one (copying links it, no read). */
  localFile?(key: string): string;
  /** Requests made and bytes sent so far, where requests cost (a bucket); for --json and benchmarks. */
  traffic?(): StoreTraffic;
}

export interface StoreTraffic {
  requests: Record<string, number>;
  bytesSent: number;
}
