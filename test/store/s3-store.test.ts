import { HeadObjectCommand, ListMultipartUploadsCommand, CreateMultipartUploadCommand } from '@aws-sdk/client-s3';
import { randomBytes, createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseS3Url } from '../../src/store/s3-config.js';
import { S3Store, probeConditionalWrites } from '../../src/store/s3-store.js';
import { CACHE_IMMUTABLE, CACHE_MUTABLE } from '../../src/store/http-headers.js';
import { newBucket, newS3Store, rgwClient, rgwEnv } from '../helpers/s3.js';
import { startS3Proxy } from '../helpers/s3-proxy.js';
import { createS3Client } from '../../src/store/s3-config.js';
import { storeConformance } from './conformance.js';

storeConformance('S3 (Ceph RGW, conditional writes)', () => newS3Store());
storeConformance('S3 (Ceph RGW, lease-lock fallback)', () => newS3Store({ conditional: { kind: 'lease' } }));

describe('S3 specifics', () => {
  it('probes RGW: conditional writes work, If-Match wants the ETag without quotes', async () => {
    const bucket = await newBucket();
    expect(await probeConditionalWrites(rgwClient(), bucket, 'probe')).toEqual({ kind: 'native', quoteIfMatch: false });
    // the probe cleans up after itself
    const s = new S3Store({ client: rgwClient(), bucket, prefix: '' });
    const left: string[] = [];
    for await (const k of s.listAll('')) left.push(k);
    expect(left).toEqual([]);
  });

  it('stores Content-Type, Cache-Control and the SHA-256; .gz without Content-Encoding', async () => {
    const s = await newS3Store();
    const blob = randomBytes(1000);
    await s.put('blobs/ab/x/p-1.gpkg.tar', blob, { immutable: true, contentType: 'application/x-tar' });
    await s.put('machines/m/binpkgs/Packages.gz', Buffer.from('gz'), { contentType: 'application/gzip', mtime: 1795317388 });
    const bucket = s.location.split('/')[2];
    const head = (k: string) => rgwClient().send(new HeadObjectCommand({ Bucket: bucket, Key: `store/${k}` }));
    const b = await head('blobs/ab/x/p-1.gpkg.tar');
    expect(b.ContentType).toBe('application/x-tar');
    expect(b.CacheControl).toBe(CACHE_IMMUTABLE);
    expect(b.Metadata?.sha256).toBe(createHash('sha256').update(blob).digest('hex'));
    const idx = await head('machines/m/binpkgs/Packages.gz');
    expect(idx.ContentType).toBe('application/gzip');
    expect(idx.ContentEncoding).toBeUndefined();
    expect(idx.CacheControl).toBe(CACHE_MUTABLE);
    expect((await s.stat('machines/m/binpkgs/Packages.gz'))!.mtime).toBe(1795317388);
  });

  it('uploads a large file in parts; its bytes and SHA-256 survive', async () => {
    const s = await newS3Store({ multipartThreshold: 16 * 1024 * 1024 });
    const dir = await s.createStaging();
    const big = randomBytes(40 * 1024 * 1024 + 123);
    await writeFile(join(dir, 'big'), big);
    await s.putFile('blobs/cd/y/big-1.gpkg.tar', join(dir, 'big'), { immutable: true, deferSync: true });
    await s.barrier();
    expect(s.traffic().requests.multipart).toBeGreaterThan(2);
    const bucket = s.location.split('/')[2];
    const h = await rgwClient().send(new HeadObjectCommand({ Bucket: bucket, Key: 'store/blobs/cd/y/big-1.gpkg.tar' }));
    expect(h.ContentLength).toBe(big.length);
    expect(h.Metadata?.sha256).toBe(createHash('sha256').update(big).digest('hex'));
    expect((await s.getRange('blobs/cd/y/big-1.gpkg.tar', 40 * 1024 * 1024, 123)).equals(big.subarray(40 * 1024 * 1024))).toBe(true);
    await s.disposeStaging(dir);
  });

  it('streams a file from disk, and sends it again from the start when the server throttles it', async () => {
    // every first PUT of a key is answered 503 SlowDown after its body was read: the retry must
    // open the file again, not resend a stream already consumed
    const putsOf = new Map<string, number>();
    const proxy = await startS3Proxy(rgwEnv().AWS_ENDPOINT_URL, {
      throttle: (req) => {
        if (req.method !== 'PUT') return false;
        const n = (putsOf.get(req.url!) ?? 0) + 1;
        putsOf.set(req.url!, n);
        return n === 1;
      },
    });
    try {
      const client = createS3Client({ endpoint: proxy.url, region: 'us-east-1' });
      const s = new S3Store({ client, bucket: await newBucket(), prefix: 'store/' });
      const dir = await s.createStaging();
      const files = [randomBytes(3 * 1024 * 1024 + 7), randomBytes(5 * 1024 * 1024)];
      await Promise.all(files.map((b, i) => writeFile(join(dir, `f${i}`), b)));
      await s.putCopy('blobs/aa/a/a-1.gpkg.tar', join(dir, 'f0'), { immutable: true, deferSync: true, sha256: createHash('sha256').update(files[0]).digest('hex') });
      await s.putFile('packs/p1', join(dir, 'f1'), { deferSync: true });
      await s.barrier();
      expect(proxy.seen.throttled).toBe(2);
      expect((await s.get('blobs/aa/a/a-1.gpkg.tar'))!.equals(files[0])).toBe(true);
      expect((await s.get('packs/p1'))!.equals(files[1])).toBe(true);
      // a copy leaves the staged file; a put takes it
      expect(existsSync(join(dir, 'f0'))).toBe(true);
      expect(existsSync(join(dir, 'f1'))).toBe(false);
      await s.disposeStaging(dir);
    } finally {
      await proxy.close();
    }
  });

  it('a streamed file whose bytes are not the SHA-256 it is sent under is refused by the server, and not stored', async () => {
    const s = await newS3Store();
    const dir = await s.createStaging();
    await writeFile(join(dir, 'f'), randomBytes(2 * 1024 * 1024));
    await expect(s.putCopy('blobs/bb/b/b-1.gpkg.tar', join(dir, 'f'), { sha256: 'a'.repeat(64) })).rejects.toThrow();
    expect(await s.stat('blobs/bb/b/b-1.gpkg.tar')).toBeNull();
    await s.disposeStaging(dir);
  });

  it('a failed deferred upload surfaces at the barrier', async () => {
    const s = await newS3Store();
    await s.putFile('x', '/nonexistent/file', { deferSync: true });
    await expect(s.barrier()).rejects.toThrow(/ENOENT/);
    await s.barrier(); // the error is reported once
  });

  it('recover() aborts multipart uploads left by dead writers, not fresh ones', async () => {
    const bucket = await newBucket();
    const client = rgwClient();
    await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'store/blobs/half' }));
    const uploads = async () => (await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? [];
    await new S3Store({ client, bucket, prefix: 'store/' }).recover();
    expect(await uploads()).toHaveLength(1); // too young: may belong to a live writer
    await new S3Store({ client, bucket, prefix: 'store/', staleUploadMs: 0 }).recover();
    expect(await uploads()).toHaveLength(0);
  });

  it('parses store URLs and refuses bad ones', () => {
    expect(parseS3Url('s3://bin-host/a/b/')).toEqual({ bucket: 'bin-host', prefix: 'a/b/' });
    expect(parseS3Url('s3://bin-host')).toEqual({ bucket: 'bin-host', prefix: '' });
    expect(() => parseS3Url('s3://UPPER/x')).toThrow(/bucket/);
    expect(() => parseS3Url('s3://bucket/../x')).toThrow(/\.\./);
  });
});
