/**
 * The hashing thread a pull hands package and archive bytes to: its digests and staged files must
 * be exactly what hashing and writing them here would give, however the bytes are cut, and a
 * failure to stage must reach the caller.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HashWorker } from '../../src/ingest/hash-worker.js';

const hex = (alg: string, data: Buffer) => createHash(alg).update(data).digest('hex');

describe('HashWorker', () => {
  it('gives the digests and the file that hashing and writing here would, for chunks of every size', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gbp-hash-'));
    const hashing = new HashWorker();
    try {
      // 0 bytes, 1 byte, a slab exactly, across slabs, and 20 MiB (more than all slabs together)
      const sizes = [0, 1, 256 << 10, (256 << 10) + 1, 3 << 20, 20 << 20];
      const jobs = sizes.map((size, i) => ({ data: randomBytes(size), file: join(dir, `f${i}`), job: hashing.begin(['md5', 'sha1', 'sha256'], join(dir, `f${i}`), i % 2 === 0) }));
      let waited = 0;
      for (const { data, job } of jobs) {
        for (let at = 0; at < data.length || at === 0; at += 1 << 20) {
          const behind = job.update(data.subarray(at, at + (1 << 20)));
          if (behind) {
            waited++;
            await behind;
          }
          if (!data.length) break;
        }
      }
      for (const { data, file, job } of jobs) {
        expect(await job.digest()).toEqual([hex('md5', data), hex('sha1', data), hex('sha256', data)]);
        expect(readFileSync(file).equals(data)).toBe(true);
      }
      // 24 MiB went over 8 MiB of slabs: the caller was told to wait
      expect(waited).toBeGreaterThan(0);
    } finally {
      await hashing.close();
    }
  });

  it('a staged file that cannot be created fails its digest with the reason, and the others go on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gbp-hash-'));
    writeFileSync(join(dir, 'taken'), 'x');
    const hashing = new HashWorker();
    try {
      const bad = hashing.begin(['sha256'], join(dir, 'taken'));
      const good = hashing.begin(['sha256']);
      bad.update(Buffer.from('abc'));
      good.update(Buffer.from('abc'));
      await expect(bad.digest()).rejects.toMatchObject({ code: 'EEXIST' });
      expect(await good.digest()).toEqual([hex('sha256', Buffer.from('abc'))]);
      expect(readFileSync(join(dir, 'taken'), 'utf8')).toBe('x');
    } finally {
      await hashing.close();
    }
  });

  it('stopped, it fails what was not finished instead of leaving it waiting', async () => {
    const hashing = new HashWorker();
    const job = hashing.begin(['sha256']);
    job.update(randomBytes(1000));
    await hashing.close();
    await expect(job.digest()).rejects.toThrow(/stopped/);
  });
});
