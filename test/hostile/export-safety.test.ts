/**
 * Regression for the incident "an archive got a setuid-root file created beside the export
 * directory by a routine gbp export-rsync": modes are sanitised at ingest and again when written,
 * and the exporter refuses a stored tree that would make it write through a link.
 */
import { chmodSync, lstatSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertSafeTree } from '../../src/export/apply-tree.js';
import type { TreeEntry } from '../../src/records/tree-manifest.js';
import { gbp, tempDir } from '../helpers/cli.js';
import { archiveMembers, tgz } from '../helpers/fixture-archive.js';
import { fixture } from '../helpers/fixtures.js';

const entry = (path: string, type: TreeEntry['type'], target: string | null = null): TreeEntry => ({
  path, type, mode: type === 'd' ? 0o755 : 0o644, mtime: 0, size: 0, sha256: type === 'f' ? '0'.repeat(64) : null, xxh64: null, pack: type === 'f' ? 'p' : null, offset: 0, target,
});

describe('what an export writes', () => {
  it('never a setuid, setgid or world-writable file, whatever the archive said', async () => {
    const members = await archiveMembers(fixture('build-archive/build.tar.gz'));
    members.push(
      { path: 'repos/test_repo/suid-root', data: '#!/bin/sh\nid\n', mode: 0o4755 },
      { path: 'repos/test_repo/setgid', data: 'x', mode: 0o2755 },
      { path: 'repos/test_repo/anyone-writes', data: 'x', mode: 0o666 },
      { path: 'repos/test_repo/sticky-dir', type: 'Directory', mode: 0o1777 },
    );
    const dir = tempDir('gbp-modes-');
    chmodSync(dir, 0o755);
    const archive = join(dir, 'build.tar.gz');
    writeFileSync(archive, tgz(members));
    const store = join(dir, 'store');
    const dest = join(dir, 'export');
    expect((await gbp(['--store', store, 'pull', archive, '-m', 'web', '-b', '1', '--publish'])).code).toBe(0);
    const r = await gbp(['--store', store, 'export-rsync', '--dest', dest]);
    expect(r.code, r.stderr).toBe(0);
    const exported = readdirSync(dest, { recursive: true }).map(String).filter((p) => p.includes('test_repo/'));
    const modes = Object.fromEntries(
      exported.filter((p) => /suid-root|setgid|anyone-writes|sticky-dir/.test(p)).map((p) => [p.split('/').pop(), lstatSync(join(dest, p)).mode & 0o7777]),
    );
    expect(modes).toEqual({ 'suid-root': 0o755, setgid: 0o755, 'anyone-writes': 0o664, 'sticky-dir': 0o775 });
    // nothing beside the export directory but what the test made
    expect(readdirSync(dirname(dest)).sort()).toEqual(['build.tar.gz', 'export', 'store']);
  });
});

describe('a stored tree the exporter refuses to write', () => {
  it('an entry below a symlink, whatever the order', () => {
    expect(() => assertSafeTree('repos/x', [entry('.', 'd'), entry('lnk/passwd', 'f'), entry('lnk', 'l', '../../..')])).toThrow(
      /repos\/x\/lnk\/passwd: is below 'lnk', which is not a directory/,
    );
  });

  it('a symlink chain that leaves a repository', () => {
    expect(() => assertSafeTree('repos/x', [entry('.', 'd'), entry('a', 'l', '.'), entry('b', 'l', 'a/..')])).toThrow(/repos\/x\/b: .*resolves outside the tree/);
  });

  it('a path that is not canonical', () => {
    expect(() => assertSafeTree('repos/x', [entry('.', 'd'), entry('../escape', 'f')])).toThrow(/not a canonical path/);
  });

  it("but an /etc/portage tree's make.profile may lead into the client's repositories", () => {
    expect(() => assertSafeTree('etc-portage/web', [entry('.', 'd'), entry('make.profile', 'l', '../repos/gentoo/profiles/default')], false)).not.toThrow();
  });
});
