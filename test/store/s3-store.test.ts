import { HeadObjectCommand, ListMultipartUploadsCommand, CreateMultipartUploadCommand } from '@aws-sdk/client-s3';
import { randomBytes, createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseS3Url } from '../../src/store/s3-config.js';
import { S3Store, probeConditionalWrites } from '../../src/store/s3-store.js';
import { CACHE_IMMUTABLE, CACHE_MUTABLE } from '../../src/store/http-headers.js';
import { newBucket, newS3Store, rgwClient } from '../helpers/s3.js';
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
