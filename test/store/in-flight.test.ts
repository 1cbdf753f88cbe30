/**
 * The pull/gc protocol of src/store/in-flight.ts, step by step on both backends: a lease read
 * by a sweep spares the pull's objects; a sweep the pull sees makes it check what it reuses.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { hostname } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { leasedKeys, leaseReusedObjects, SweepMarkerHandle } from '../../src/store/in-flight.js';
import { FsStore } from '../../src/store/fs-store.js';
import type { Store } from '../../src/store/store.js';
import { newS3Store } from '../helpers/s3.js';

const now = () => Math.floor(Date.now() / 1000);
const backends: [string, () => Promise<Store>][] = [
  ['local directory', async () => new FsStore(await mkdtemp(join(tmpdir(), 'gbp-inflight-')))],
  ['S3 (Ceph RGW)', () => newS3Store()],
];

for (const [name, makeStore] of backends) {
  describe(`pull leases and gc sweeps (${name})`, () => {
    it('a sweep that starts after the lease sees the leased keys; releasing ends the protection', async () => {
      const s = await makeStore();
      await s.put('packs/aa/old.pack', 'x');
      const lease = await leaseReusedObjects(s, 'web-7', now(), ['packs/aa/old.pack']);
      await SweepMarkerHandle.begin(s);
      expect([...(await leasedKeys(s))]).toEqual(['packs/aa/old.pack']);
      await lease.release();
      expect((await leasedKeys(s)).size).toBe(0);
    });

    it('a pull that meets a running sweep waits for its end, then checks what it reuses', async () => {
      const s = await makeStore();
      await s.put('packs/aa/kept.pack', 'x');
      await s.put('packs/aa/doomed.pack', 'x');
      const sweep = await SweepMarkerHandle.begin(s);
      // the sweep read the leases before this pull wrote its own, and deletes after the pull looked
      const pending = leaseReusedObjects(s, 'web-8', now(), ['packs/aa/kept.pack', 'packs/aa/doomed.pack']);
      await new Promise((r) => setTimeout(r, 600));
      await s.delete('packs/aa/doomed.pack');
      await sweep.finish();
      await expect(pending).rejects.toThrow(/a concurrent gc removed this object/);
      expect((await leasedKeys(s)).size).toBe(0); // the refused pull released its lease
      const ok = await leaseReusedObjects(s, 'web-9', now(), ['packs/aa/kept.pack']);
      await ok.release();
    });

    it('a sweep killed on this host does not hold pulls up (its marker names a dead process)', async () => {
      const s = await makeStore();
      await s.put('packs/aa/kept.pack', 'x');
      const dead = spawnSync('true').pid!; // a process that has exited
      const t = now();
      await s.put(`leases/gc/${t}-dead.json`, JSON.stringify({ started: t, heartbeat: t, finished: null, holder: `${hostname()} ${dead}` }));
      const began = Date.now();
      const lease = await leaseReusedObjects(s, 'web-10', t, ['packs/aa/kept.pack']);
      expect(Date.now() - began).toBeLessThan(5000);
      await lease.release();
    });

    it('a sweep that finished before the pull started costs the pull no checks', async () => {
      const s = await makeStore();
      const sweep = await SweepMarkerHandle.begin(s);
      await sweep.finish();
      // an hour later, an object absent from the store is not looked up (it would refuse if it were)
      const lease = await leaseReusedObjects(s, 'web-9', now() + 3600, ['packs/aa/not-looked-up.pack']);
      await lease.release();
    });
  });
}
