/**
 * A package's image is read when its file list is made (gbp files, gbp which), after every other
 * check passed: an image that is hostile gets no list and a reason, never a stuck or refused pull,
 * and its build is still published.
 */
import { execFileSync, execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Header } from 'tar';
import { describe, expect, it } from 'vitest';
import { gbp, tempDir } from '../helpers/cli.js';
import { archiveMembers, archiveWithPackage, tarMembers } from '../helpers/fixture-archive.js';
import { fixture } from '../helpers/fixtures.js';
import { tarArchive } from '../helpers/tar-builder.js';

const BUILD1 = fixture('build-archive/build.tar.gz');
const HELLO = 'binpkgs/app-misc/hello/hello-1.0-1.gpkg.tar';

describe('hostile package images', () => {
  it('an image that is a decompression bomb gets no list and a reason; its build is published', async () => {
    // one member of 4 GiB of zeros, compressed to kilobytes (1 GiB of it: the limit comes first)
    const header = new Header({ path: 'image/usr/bin/huge', type: 'File', size: 4 * 2 ** 30, mode: 0o755, mtime: new Date(), uid: 0, gid: 0 });
    header.encode();
    const zeros = execSync('head -c 1073741824 /dev/zero | zstd -1 -c', { maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'ignore'] });
    const bomb = Buffer.concat([execFileSync('zstd', ['-c'], { input: header.block! }), zeros]);
    // the package's own members, its image swapped for the bomb; the index made to match
    const gpkg = (await archiveMembers(BUILD1)).find((m) => m.path === HELLO)!.data as Buffer;
    const members = (await tarMembers(gpkg)).map((m) => (m.path.endsWith('/image.tar.zst') ? { ...m, data: bomb } : m));
    const archive = await archiveWithPackage(BUILD1, HELLO, () => tarArchive(members));

    const store = tempDir();
    const started = Date.now();
    const r = await gbp(['--store', store, '--json', 'pull', archive, '-m', 'web', '-b', '1', '--publish']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().fileLists).toEqual({ listed: 4, unavailable: 1 });
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(readFileSync(join(store, 'machines/web/binpkgs/Packages'), 'utf8')).toContain('CPV: app-misc/hello-1.0');
    const files = await gbp(['--store', store, '--json', 'files', 'web', '1']);
    expect(files.json().unavailable).toEqual([{ package: 'app-misc/hello-1.0', reason: expect.stringMatching(/expands past \d+ bytes/) }]);
    const text = await gbp(['--store', store, 'files', 'web', '1']);
    expect(text.stderr).toMatch(/warning: app-misc\/hello-1\.0: no file list \(the image expands past/);
  });
});
