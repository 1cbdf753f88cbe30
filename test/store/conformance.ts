/**
 * The Store contract (src/store/store.ts), as one suite every backend runs with a few lines of
 * setup. A backend that cannot run here must fail loudly, never skip.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';

export function storeConformance(name: string, makeStore: () => Promise<Store>): void {
  describe(`${name} store contract`, () => {
    it('reads back what it wrote; a missing key is null, not an error', async () => {
      const s = await makeStore();
      expect(await s.get('a/b/c.txt')).toBeNull();
      expect(await s.exists('a/b/c.txt')).toBe(false);
      expect(await s.getStream('a/b/c.txt')).toBeNull();
      await s.put('a/b/c.txt', 'hello world');
      expect((await s.get('a/b/c.txt'))!.toString()).toBe('hello world');
      expect(await s.exists('a/b/c.txt')).toBe(true);
      expect((await s.getRange('a/b/c.txt', 6, 5)).toString()).toBe('world');
      expect((await s.getRange('a/b/c.txt', 11, 0)).length).toBe(0); // an empty file in a pack
      const chunks: Buffer[] = [];
      for await (const c of (await s.getStream('a/b/c.txt'))!) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).toString()).toBe('hello world');
    });

    it('replaces an object whole', async () => {
      const s = await makeStore();
      await s.put('k', 'x'.repeat(100_000));
      await s.put('k', 'short');
      expect((await s.get('k'))!.toString()).toBe('short');
    });

    it('moves a staged file in, consuming it', async () => {
      const s = await makeStore();
      const dir = await s.createStaging();
      const f = join(dir, 'f');
      await writeFile(f, 'staged bytes');
      await s.putFile('blobs/x/f', f);
      expect((await s.get('blobs/x/f'))!.toString()).toBe('staged bytes');
      await expect(readFile(f)).rejects.toThrow();
      await s.disposeStaging(dir);
    });

    it('putIfAbsent: of many racing writers exactly one wins and its bytes stay', async () => {
      const s = await makeStore();
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => s.putIfAbsent('once', `writer ${i}`)));
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = results.indexOf(true);
      expect((await s.get('once'))!.toString()).toBe(`writer ${winner}`);
      expect(await s.putIfAbsent('once', 'late')).toBe(false);
    });

    it('compare-and-swap loses no update among racing writers', async () => {
      const s = await makeStore();
      const increment = async () => {
        for (;;) {
          const cur = await s.getVersioned('counter');
          const n = cur ? Number(cur.data.toString()) : 0;
          if (await s.putIfVersion('counter', String(n + 1), cur?.version ?? null)) return;
        }
      };
      await Promise.all(Array.from({ length: 20 }, increment));
      expect((await s.get('counter'))!.toString()).toBe('20');
    });

    it('compare-and-swap refuses a stale version and "absent" when present', async () => {
      const s = await makeStore();
      expect(await s.putIfVersion('state', 'v1', null)).toBe(true);
      const v1 = (await s.getVersioned('state'))!;
      expect(await s.putIfVersion('state', 'v2', v1.version)).toBe(true);
      expect(await s.putIfVersion('state', 'v3', v1.version)).toBe(false);
      expect(await s.putIfVersion('state', 'v3', null)).toBe(false);
      expect((await s.get('state'))!.toString()).toBe('v2');
    });

    it('lists a prefix, and nothing of its private scratch area', async () => {
      const s = await makeStore();
      await s.put('machines/a/state.json', '{}');
      await s.put('machines/b/state.json', '{}');
      await s.put('builds/a/1/build.json', '{}');
      const staging = await s.createStaging();
      await writeFile(join(staging, 'partial'), 'x');
      const listed: string[] = [];
      for await (const k of s.list('machines/')) listed.push(k);
      expect(listed.sort()).toEqual(['machines/a/state.json', 'machines/b/state.json']);
      const all: string[] = [];
      for await (const k of s.list('')) all.push(k);
      expect(all.sort()).toEqual(['builds/a/1/build.json', 'machines/a/state.json', 'machines/b/state.json']);
      await s.disposeStaging(staging);
    });

    it('recover() leaves live staging alone', async () => {
      const s = await makeStore();
      const staging = await s.createStaging();
      await writeFile(join(staging, 'mine'), 'x');
      await s.recover();
      expect((await readFile(join(staging, 'mine'))).toString()).toBe('x');
      await s.disposeStaging(staging);
    });

    it('deletes, and deleting a missing key is fine', async () => {
      const s = await makeStore();
      await s.put('gone', 'x');
      await s.delete('gone');
      await s.delete('gone');
      expect(await s.get('gone')).toBeNull();
    });
  });
}
