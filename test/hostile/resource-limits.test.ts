/**
 * Tiny inputs that once cost hours or gigabytes. Every walk over what an archive controls is
 * linear: these run in seconds where the old code ran for minutes (the test's time limit is the
 * assertion; the figures are in BENCHMARKS.md).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gbp, tempDir } from '../helpers/cli.js';
import { archiveMembers, tgz } from '../helpers/fixture-archive.js';
import { fixture } from '../helpers/fixtures.js';
import type { Member } from '../helpers/tar-builder.js';

describe('linear walks', () => {
  it('100,000 empty files in one repository: pull and fsck finish (fsck was quadratic in a pack)', async () => {
    const members = await archiveMembers(fixture('build-archive/build.tar.gz'));
    const many: Member[] = [{ path: 'repos/many/', type: 'Directory' }];
    for (let d = 0; d < 100; d++) {
      many.push({ path: `repos/many/d${d}/`, type: 'Directory' });
      for (let f = 0; f < 1000; f++) many.push({ path: `repos/many/d${d}/f${f}`, data: '' });
    }
    const dir = tempDir();
    const archive = join(dir, 'many.tar.gz');
    writeFileSync(archive, tgz([...members, ...many]));
    const store = join(dir, 'store');
    const pull = await gbp(['--store', store, '--json', 'pull', archive, '-m', 'web', '-b', '1', '--publish']);
    expect(pull.code, pull.stderr).toBe(0);
    expect(pull.json().trees.files).toBeGreaterThan(100_000);
    const fsck = await gbp(['--store', store, '--json', 'fsck']);
    expect(fsck.code, fsck.stdout).toBe(0);
    expect(fsck.json().checked.files).toBeGreaterThan(100_000);
  }, 60_000);
});
