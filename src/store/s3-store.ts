/**
 * A store in an S3-compatible bucket, under a key prefix. Same keys and contract as the local
 * directory (store.ts); how each promise is kept on object storage:
 *
 * - Complete or invisible: a PUT (or a completed multipart upload) is atomic on every S3 server.
 * - Durability and batching: a deferred write starts uploading at once, with many in flight, and
 *   `barrier()` waits for all of them. Writers batch like on disk, and requests overlap.
 * - `putIfAbsent` / compare-and-swap: conditional PutObject (`If-None-Match: *`, `If-Match: <etag>`).
 *   Servers differ (RGW compares unquoted ETags, Swift answers 501, some ignore the headers), so the
 *   first conditional write probes what this server does. Without conditional writes, a lease lock
 *   (s3-lease-lock.ts) serialises writers instead.
 * - Every object carries Content-Type, Cache-Control (immutable for content-addressed objects and
 *   build directories, short for mutable views) and its SHA-256 in `x-amz-meta-sha256`; the ETag
 *   is no hash for multipart uploads. An index's TIMESTAMP mtime goes into `x-amz-meta-mtime`.
 * - Staging is a local temporary directory: files are hashed and uploaded from there.
 */
import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { GbpError } from '../errors.js';
import { isAlive } from '../util/lock-holder.js';
import { CACHE_IMMUTABLE, CACHE_MUTABLE, contentTypeOf } from './http-headers.js';
import { LeaseLock } from './s3-lease-lock.js';
import type { PutOptions, Store, StoreTraffic, Versioned } from './store.js';
import { sha256Hex } from '../util/sha256.js';

/**
 * Files go up in one buffered PUT (a throttled request can be sent again) up to MULTIPART_THRESHOLD,
 * beyond it in parts (a binpkg can be gigabytes). Multipart costs requests and server work, so a
 * 32 MiB pack is one PUT. A file up to STREAM_FROM is read whole and sent as a buffer; a larger one
 * streams from disk, so 32 uploads in flight hold their sockets' buffers, not their files (a
 * desktop's first build held 115 MB of package bytes). Parts and buffers stay within
 * UPLOAD_BUFFER_BYTES, whatever the number of requests in flight.
 */
const MULTIPART_THRESHOLD = 96 * 1024 * 1024;
const PART_SIZE = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT = 4;
/**
 * What one multipart upload holds: its parts in flight, the part being filled, and the pieces
 * that part is joined from (@aws-sdk/lib-storage). Counted as less, two ran side by side with the
 * buffered PUTs, and a 4 GB first build's pull into a bucket peaked at 344-354 MB.
 */
const MULTIPART_BYTES = PART_SIZE * (PARTS_IN_FLIGHT + 2);
const STREAM_FROM = 1024 * 1024;
const UPLOAD_BUFFER_BYTES = 64 * 1024 * 1024;
/** An incomplete multipart upload older than this belongs to a writer that died. */
const STALE_UPLOAD_MS = 60 * 60 * 1000;
/** The store's private keys (probe objects, leases): never listed, never served. */
export const PRIVATE_PREFIX = '.gbp/';


/** What this server does with conditional PutObject, learnt by probing it once. */
export type ConditionalSupport = { kind: 'native'; quoteIfMatch: boolean } | { kind: 'lease' };

export interface S3StoreOptions {
  client: S3Client;
  bucket: string;
  prefix: string;
  maxInFlight?: number;
  /** Files above this size go up in parts (default MULTIPART_THRESHOLD). */
  multipartThreshold?: number;
  /** Multipart uploads older than this are a dead writer's (recover() aborts them). */
  staleUploadMs?: number;
  /** Skip the probe (tests of the fallback; a server known to lack conditional writes). */
  conditional?: ConditionalSupport;
}

/** The largest object one CopyObject request copies (S3's limit). */
const MAX_COPY_BYTES = 5 * 2 ** 30;

export class S3Store implements Store {
  readonly location: string;
  readonly kind = 'bucket';
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly maxInFlight: number;
  private readonly staleUploadMs: number;
  private readonly multipartThreshold: number;
  private readonly inFlight = new Set<Promise<void>>();
  private deferredError: unknown = null;
  private conditional: Promise<ConditionalSupport> | null;
  private readonly uploadBuffer = new ByteBudget(UPLOAD_BUFFER_BYTES);
  /** Requests sent, by kind: the benchmark reports them, and tests assert proportionality. */
  private readonly requests = { get: 0, head: 0, put: 0, list: 0, delete: 0, multipart: 0 };
  private bytesSent = 0;
  /** Records that never change once written, as this process wrote or read them: never asked for twice. */
  private readonly immutable = new ImmutableRecords(IMMUTABLE_CACHE_BYTES);

  constructor(options: S3StoreOptions) {
    this.client = options.client;
    this.bucket = options.bucket;
    this.prefix = options.prefix;
    this.maxInFlight = options.maxInFlight ?? 32;
    this.staleUploadMs = options.staleUploadMs ?? STALE_UPLOAD_MS;
    this.multipartThreshold = options.multipartThreshold ?? MULTIPART_THRESHOLD;
    this.conditional = options.conditional ? Promise.resolve(options.conditional) : null;
    this.location = `s3://${this.bucket}/${this.prefix}`;
  }

  private key(key: string): string {
    if (key.startsWith('/') || key.split('/').includes('..') || key.includes('\0')) {
      throw new GbpError('internal', key, 'refusing a store key outside the store');
    }
    return this.prefix + key;
  }

  traffic(): StoreTraffic {
    return { requests: { ...this.requests }, bytesSent: this.bytesSent };
  }

  async get(key: string): Promise<Buffer | null> {
    const cached = this.immutable.get(key);
    if (cached) return cached;
    const data = (await this.getVersioned(key))?.data ?? null;
    if (data) this.immutable.offer(key, data);
    return data;
  }

  async getRange(key: string, offset: number, length: number): Promise<Buffer> {
    if (length === 0) return Buffer.alloc(0); // an empty file: no byte range to ask for
    this.requests.get++;
    try {
      const r = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.key(key), Range: `bytes=${offset}-${offset + length - 1}` }),
      );
      const data = Buffer.from(await r.Body!.transformToByteArray());
      if (data.length !== length) throw new GbpError('store', key, `short read at ${offset}+${length}`);
      return data;
    } catch (err) {
      throw fail(err, key);
    }
  }

  async getStream(key: string): Promise<Readable | null> {
    this.requests.get++;
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(key) }));
      return r.Body as Readable;
    } catch (err) {
      return missing(err, key);
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.head(key)) !== null;
  }

  async stat(key: string): Promise<{ size: number; mtime: number } | null> {
    const h = await this.head(key);
    if (!h) return null;
    const mtime = Number(h.Metadata?.mtime ?? NaN);
    return { size: h.ContentLength ?? 0, mtime: Number.isFinite(mtime) ? mtime : Math.floor(h.LastModified!.getTime() / 1000) };
  }

  async put(key: string, data: Buffer | string, options: PutOptions = {}): Promise<void> {
    const body = typeof data === 'string' ? Buffer.from(data) : data;
    await this.schedule(options, () => this.putObject(key, body, options));
  }

  async putFile(key: string, localPath: string, options: PutOptions = {}): Promise<void> {
    await this.upload(key, localPath, options, true);
  }

  async putCopy(key: string, localPath: string, options: PutOptions = {}): Promise<void> {
    await this.upload(key, localPath, options, false);
  }

  private async upload(key: string, localPath: string, options: PutOptions, consume: boolean): Promise<void> {
    await this.schedule(options, async () => {
      const size = (await fs.stat(localPath)).size;
      if (size <= STREAM_FROM) await this.uploadBuffer.run(size, async () => this.putObject(key, await fs.readFile(localPath), options));
      else if (size <= this.multipartThreshold) await this.putStreamed(key, localPath, size, options);
      else await this.uploadBuffer.run(MULTIPART_BYTES, () => this.uploadLarge(key, localPath, options));
      if (consume) await fs.rm(localPath, { force: true });
    });
  }

  async copyWithin(from: string, to: string, options: PutOptions = {}): Promise<boolean> {
    const size = (await this.stat(from))?.size;
    if (size === undefined || size > MAX_COPY_BYTES) return false;
    this.requests.put++;
    try {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: this.key(to),
          CopySource: `${this.bucket}/${this.key(from).split('/').map(encodeURIComponent).join('/')}`,
          // the headers of the new name (an immutable build's copy, or a mutable published one)
          ...(options.sha256 ? { MetadataDirective: 'REPLACE' as const, ...headersFor(to, options, options.sha256) } : { MetadataDirective: 'COPY' as const }),
        }),
      );
      return true;
    } catch (err) {
      if ((await missing(err, from)) === null) return false;
      throw fail(err, to);
    }
  }

  async putIfAbsent(key: string, data: Buffer | string, options: PutOptions = {}): Promise<boolean> {
    const body = typeof data === 'string' ? Buffer.from(data) : data;
    const support = await this.conditionalSupport();
    if (support.kind === 'native') return this.putObject(key, body, options, { IfNoneMatch: '*' });
    return this.withLease(key, async () => {
      if (await this.exists(key)) return false;
      await this.putObject(key, body, options);
      return true;
    });
  }

  async getVersioned(key: string): Promise<Versioned | null> {
    this.requests.get++;
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(key) }));
      const data = Buffer.from(await r.Body!.transformToByteArray());
      return { data, version: unquote(r.ETag ?? '') };
    } catch (err) {
      return missing(err, key);
    }
  }

  async putIfVersion(key: string, data: Buffer | string, expected: string | null, options: PutOptions = {}): Promise<boolean> {
    const body = typeof data === 'string' ? Buffer.from(data) : data;
    const support = await this.conditionalSupport();
    if (support.kind === 'native') {
      const condition = expected === null ? { IfNoneMatch: '*' } : { IfMatch: support.quoteIfMatch ? `"${expected}"` : expected };
      return this.putObject(key, body, options, condition);
    }
    return this.withLease(key, async () => {
      const current = await this.getVersioned(key);
      if ((current?.version ?? null) !== expected) return false;
      await this.putObject(key, body, options);
      return true;
    });
  }

  async *list(prefix: string): AsyncIterable<string> {
    for await (const key of this.listAll(prefix)) if (!key.startsWith(PRIVATE_PREFIX)) yield key;
  }

  /** Every key below a prefix, the private ones (leases) included. */
  async *listAll(prefix: string): AsyncIterable<string> {
    let token: string | undefined;
    do {
      this.requests.list++;
      let r;
      try {
        r = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix + prefix, ContinuationToken: token }),
        );
      } catch (err) {
        throw fail(err, prefix);
      }
      for (const o of r.Contents ?? []) {
        yield o.Key!.slice(this.prefix.length);
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(key: string): Promise<void> {
    this.requests.delete++;
    this.immutable.drop(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(key) }));
    } catch (err) {
      if ((await missing(err, key)) !== null) throw fail(err, key);
    }
  }

  async barrier(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
    const err = this.deferredError;
    this.deferredError = null;
    if (err) throw err;
  }

  /**
   * Aborts multipart uploads that writers which died left behind (they cost storage and are
   * invisible), and removes this host's staging directories of dead processes. A writer calls it
   * first, so the probe of conditional writes starts here and runs beside what the writer does
   * next, not in the way of its first record (a failed probe is reported where a write awaits it).
   */
  async recover(): Promise<void> {
    this.conditionalSupport().catch(() => {});
    await this.abortStaleUploads();
  }

  private async abortStaleUploads(): Promise<void> {
    let keyMarker: string | undefined;
    let uploadMarker: string | undefined;
    do {
      this.requests.list++;
      const r = await this.client
        .send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: this.prefix, KeyMarker: keyMarker, UploadIdMarker: uploadMarker }))
        .catch((err) => {
          throw fail(err, this.location);
        });
      for (const u of r.Uploads ?? []) {
        if (Date.now() - (u.Initiated?.getTime() ?? 0) < this.staleUploadMs) continue;
        this.requests.multipart++;
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key!, UploadId: u.UploadId! })).catch(() => {});
      }
      keyMarker = r.IsTruncated ? r.NextKeyMarker : undefined;
      uploadMarker = r.IsTruncated ? r.NextUploadIdMarker : undefined;
    } while (keyMarker);
    const base = stagingBase();
    for (const name of await fs.readdir(base).catch(() => [] as string[])) {
      const pid = Number(/^stage-(\d+)-/.exec(name)?.[1]);
      if (!pid || pid === process.pid || isAlive(pid)) continue;
      await fs.rm(join(base, name), { recursive: true, force: true });
    }
  }

  async createStaging(): Promise<string> {
    const dir = join(stagingBase(), `stage-${process.pid}-${randomBytes(6).toString('hex')}`);
    await fs.mkdir(dir, { recursive: true });
    return dir;
  }

  async disposeStaging(dir: string): Promise<void> {
    await fs.rm(dir, { recursive: true, force: true });
  }

  /** What the server does with conditional writes; probed once, with a private throw-away key. */
  conditionalSupport(): Promise<ConditionalSupport> {
    if (!this.conditional) {
      this.requests.put += 5; // at most: the probe's requests, counted like the others
      this.conditional = probeConditionalWrites(this.client, this.bucket, `${this.prefix}${PRIVATE_PREFIX}probe-${randomBytes(8).toString('hex')}`);
    }
    return this.conditional;
  }

  private withLease<T>(key: string, work: () => Promise<T>): Promise<T> {
    const lock = new LeaseLock(this, `${PRIVATE_PREFIX}locks/${key}/`);
    return lock.hold(work);
  }

  /** Runs a write now, or, when deferred, in the background with at most `maxInFlight` at once. */
  private async schedule(options: PutOptions, work: () => Promise<unknown>): Promise<void> {
    if (!options.deferSync) {
      await work();
      return;
    }
    while (this.inFlight.size >= this.maxInFlight) await Promise.race(this.inFlight);
    if (this.deferredError) throw this.deferredError;
    const p: Promise<void> = work()
      .then(() => undefined)
      .catch((err) => {
        this.deferredError ??= err;
      })
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  /** One PutObject; returns false when a condition failed (412, or 409 for a concurrent write). */
  private async putObject(key: string, body: Buffer, options: PutOptions, condition: Partial<PutObjectCommandInput> = {}): Promise<boolean> {
    this.requests.put++;
    this.bytesSent += body.length;
    const sha256 = options.sha256 ?? sha256Hex(body);
    const command = new PutObjectCommand({
      Bucket: this.bucket,
      Key: this.key(key),
      Body: body,
      ContentLength: body.length,
      ...headersFor(key, options, sha256),
      ...condition,
    });
    withPayloadSha256(command, sha256);
    try {
      await this.client.send(command);
      this.immutable.offer(key, body);
      return true;
    } catch (err) {
      const status = statusOf(err);
      if ((condition.IfNoneMatch || condition.IfMatch) && (status === 412 || status === 409)) return false;
      throw fail(err, key);
    }
  }

  /** One PutObject of a file read from disk as it is sent: each attempt (the SDK retries throttled requests) opens it afresh. */
  private async putStreamed(key: string, localPath: string, size: number, options: PutOptions): Promise<void> {
    const sha256 = options.sha256 ?? (await hashFile(localPath));
    this.requests.put++;
    this.bytesSent += size;
    const command = new PutObjectCommand({ Bucket: this.bucket, Key: this.key(key), ContentLength: size, ...headersFor(key, options, sha256) });
    withPayloadSha256(command, sha256);
    // the deserialize step runs inside the retry loop, once per attempt, after signing (which
    // takes the payload's hash from the header above, never from the body)
    const opened: ReturnType<typeof createReadStream>[] = [];
    command.middlewareStack.add(
      (next) => async (args) => {
        opened.at(-1)?.destroy();
        const body = createReadStream(localPath);
        opened.push(body);
        (args.request as { body: unknown }).body = body;
        return next(args);
      },
      { step: 'deserialize', name: 'gbpFileBody' },
    );
    try {
      await this.client.send(command);
    } catch (err) {
      throw fail(err, key);
    } finally {
      for (const body of opened) body.destroy();
    }
  }

  private async uploadLarge(key: string, localPath: string, options: PutOptions): Promise<void> {
    const sha256 = options.sha256 ?? (await hashFile(localPath));
    const size = (await fs.stat(localPath)).size;
    this.requests.multipart += Math.ceil(size / PART_SIZE) + 2;
    this.bytesSent += size;
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.key(key), Body: createReadStream(localPath), ...headersFor(key, options, sha256) },
      partSize: PART_SIZE,
      queueSize: PARTS_IN_FLIGHT,
      leavePartsOnError: false, // a failed upload is aborted, so no invisible parts are left to pay for
    });
    try {
      await upload.done();
    } catch (err) {
      throw fail(err, key);
    }
  }

  private async head(key: string) {
    this.requests.head++;
    try {
      return await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(key) }));
    } catch (err) {
      return missing(err, key);
    }
  }
}

function headersFor(key: string, options: PutOptions, sha256: string): Partial<PutObjectCommandInput> {
  const metadata: Record<string, string> = { sha256 };
  if (options.mtime !== undefined) metadata.mtime = String(options.mtime);
  return {
    ContentType: options.contentType ?? contentTypeOf(key),
    CacheControl: options.immutable ? CACHE_IMMUTABLE : CACHE_MUTABLE,
    Metadata: metadata,
  };
}

/**
 * Learns how this server treats conditional PutObject (spec/s3-compat.md): `If-None-Match: *` must
 * refuse an existing key, and `If-Match` must accept the current ETag (quoted per RFC 7232, or
 * unquoted as RGW compares it) and refuse another. Anything else, including 501, means no support.
 */
export async function probeConditionalWrites(client: S3Client, bucket: string, key: string): Promise<ConditionalSupport> {
  const put = async (body: string, extra: Partial<PutObjectCommandInput>): Promise<number> => {
    try {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: body.length, ...extra }));
      return 200;
    } catch (err) {
      const status = statusOf(err);
      if (status === undefined) throw fail(err, key);
      return status;
    }
  };
  try {
    if ((await put('1', { IfNoneMatch: '*' })) !== 200) return { kind: 'lease' };
    if ((await put('2', { IfNoneMatch: '*' })) !== 412) return { kind: 'lease' };
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    const etag = unquote(head.ETag ?? '');
    if ((await put('3', { IfMatch: `"${'0'.repeat(32)}"` })) === 200) return { kind: 'lease' };
    if ((await put('3', { IfMatch: `"${etag}"` })) === 200) return { kind: 'native', quoteIfMatch: true };
    if ((await put('3', { IfMatch: etag })) === 200) return { kind: 'native', quoteIfMatch: false };
    return { kind: 'lease' };
  } finally {
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch(() => {});
  }
}

/**
 * The signature needs the payload's SHA-256 too: given here, the signer does not hash the body
 * (again, or at all for a stream), and the server refuses bytes that do not match it.
 */
function withPayloadSha256(command: PutObjectCommand, sha256: string): void {
  command.middlewareStack.add(
    (next) => async (args) => {
      (args.request as { headers: Record<string, string> }).headers['x-amz-content-sha256'] = sha256;
      return next(args);
    },
    { step: 'build', name: 'gbpPayloadSha256' },
  );
}

function stagingBase(): string {
  return join(process.env.GBP_STAGING_DIR || tmpdir(), 'gbp-staging');
}

async function hashFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

const unquote = (etag: string) => etag.replace(/^"|"$/g, '');

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

async function missing(err: unknown, key: string): Promise<null> {
  const name = (err as { name?: string }).name;
  if (statusOf(err) === 404 || name === 'NoSuchKey' || name === 'NotFound') return null;
  throw fail(err, key);
}

export function fail(err: unknown, key: string): GbpError {
  if (err instanceof GbpError) return err;
  const e = err as { name?: string; message?: string; code?: string };
  const status = statusOf(err);
  const what = status ? `HTTP ${status} ${e.name ?? ''}`.trim() : (e.code ?? e.name ?? 'error');
  return new GbpError('store', key, `${what}: ${e.message ?? String(err)}`);
}

/** Tasks that hold memory run while their bytes fit the budget (one always runs, however large). */
class ByteBudget {
  private used = 0;
  private readonly waiting: { bytes: number; go: () => void }[] = [];
  constructor(private readonly limit: number) {}

  async run<T>(bytes: number, task: () => Promise<T>): Promise<T> {
    if (this.used > 0 && (this.waiting.length || this.used + bytes > this.limit)) {
      await new Promise<void>((go) => this.waiting.push({ bytes, go })); // the releaser reserves for it
    } else {
      this.used += bytes;
    }
    try {
      return await task();
    } finally {
      this.used -= bytes;
      while (this.waiting.length && (this.used === 0 || this.used + this.waiting[0].bytes <= this.limit)) {
        const next = this.waiting.shift()!;
        this.used += next.bytes;
        next.go();
      }
    }
  }
}

const IMMUTABLE_CACHE_BYTES = 64 << 20;
/** Keys whose content is fixed once written: build records, their page facts, tree manifests, blob records. */
const IMMUTABLE_RECORD = /^(?:builds\/[^/]+\/[^/]+\/(?:build|page)\.json|trees\/[0-9a-f]{2}\/[0-9a-f]{64}\.json\.gz|blobs\/[0-9a-f]{2}\/[0-9a-f]{64}\/meta\.json)$/;

/**
 * A pull reads the build it just wrote (pages, views, the lease) and the trees it reused several
 * times; against a bucket each read is a round trip. Only records that cannot change are kept, up
 * to a byte budget (oldest out first), so memory stays bounded and nothing served can go stale.
 */
class ImmutableRecords {
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;

  constructor(private readonly budget: number) {}

  get(key: string): Buffer | undefined {
    return this.entries.get(key);
  }

  offer(key: string, data: Buffer): void {
    if (!IMMUTABLE_RECORD.test(key) || data.length > this.budget / 8) return;
    this.drop(key);
    this.entries.set(key, data);
    this.bytes += data.length;
    for (const [k, v] of this.entries) {
      if (this.bytes <= this.budget) break;
      this.entries.delete(k);
      this.bytes -= v.length;
    }
  }

  drop(key: string): void {
    const had = this.entries.get(key);
    if (!had) return;
    this.entries.delete(key);
    this.bytes -= had.length;
  }
}
