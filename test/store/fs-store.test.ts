import { mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FsStore } from '../../src/store/fs-store.js';
import { storeConformance } from './conformance.js';

const newDir = () => mkdtemp(join(tmpdir(), 'gbp-fs-'));

storeConformance('local directory', async () => new FsStore(await newDir()));

describe('local directory specifics', () => {
  it('sets the file mtime a Packages index needs (= its TIMESTAMP)', async () => {
    const root = await newDir();
    const s = new FsStore(root);
    await s.put('machines/m/binpkgs/Packages', 'x', { mtime: 1795317388 });
    expect((await stat(join(root, 'machines/m/binpkgs/Packages'))).mtimeMs).toBe(1795317388000);
  });

  it('recover() removes the staging and temp files of processes that are gone', async () => {
    const root = await newDir();
    const s = new FsStore(root);
    const { mkdir, writeFile, readdir } = await import('node:fs/promises');
    // pid 2^22 + 1 is above Linux's pid_max: no such process can exist
    await mkdir(join(root, '.tmp', 'stage-4194305-deadbeef'), { recursive: true });
    await writeFile(join(root, '.tmp', 'stage-4194305-deadbeef', 'binpkg-0'), 'half a package');
    await writeFile(join(root, '.tmp', 'put-4194305-0123'), 'half a state');
    const live = await s.createStaging();
    await s.recover();
    expect(await readdir(join(root, '.tmp'))).toEqual([live.split('/').pop()]);
  });

  it('refuses keys that would leave the store', async () => {
    const s = new FsStore(await newDir());
    await expect(s.put('../escape', 'x')).rejects.toThrow(/outside the store/);
    await expect(s.get('/etc/passwd')).rejects.toThrow(/outside the store/);
  });
});
