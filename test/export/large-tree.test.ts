/**
 * A repository the size of ::gentoo (over 124,000 files) through the exporter's whole life: a
 * new generation per publish, a switch back, and the pruning of a generation an hour later, whose
 * release of every object once overflowed the stack (130,000 paths spread into push()).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { ExportResult } from '../../src/export/exporter.js';
import { gbp, tempDir } from '../helpers/cli.js';
import { archiveMembers } from '../helpers/fixture-archive.js';
import { fixture } from '../helpers/fixtures.js';
import { tarArchive, type Member } from '../helpers/tar-builder.js';

const FILES = 130_000;
const EXPORTER = resolve(__dirname, '../../dist/src/export/exporter.js');
const FS_STORE = resolve(__dirname, '../../dist/src/store/fs-store.js');

async function bigArchive(variant: string): Promise<string> {
  const members: Member[] = await archiveMembers(fixture('build-archive/build.tar.gz'));
  const mtime = 1_700_000_000;
  for (let d = 0; d < FILES / 1000; d++) {
    members.push({ path: `repos/test_repo/big/d${d}/`, type: 'Directory', mode: 0o755, mtime });
    for (let f = 0; f < 1000; f++) members.push({ path: `repos/test_repo/big/d${d}/f${f}`, type: 'File', mode: 0o644, mtime, data: Buffer.from(`${d}/${f}${f === 0 && d === 0 ? variant : ''}\n`) });
  }
  const path = join(tempDir(), `big-${variant}.tar.gz`);
  writeFileSync(path, await promisify(gzip)(tarArchive(members)));
  return path;
}

/**
 * The exporter with its clock set, in a process of its own (the built code, as the CLI runs it):
 * applying and pruning 130,000 files is synchronous work that would stall the test runner.
 */
async function exportAt(store: string, dest: string, now: number): Promise<ExportResult> {
  const script = `
    const { exportRsync } = await import(${JSON.stringify(EXPORTER)});
    const { FsStore } = await import(${JSON.stringify(FS_STORE)});
    const r = await exportRsync(new FsStore(process.argv[1]), { dest: process.argv[2], graceSeconds: 3600, now: () => ${now} });
    process.stdout.write(JSON.stringify(r));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, store, dest], { maxBuffer: 1 << 26 });
  return JSON.parse(stdout) as ExportResult;
}

describe('exporting a tree the size of ::gentoo', () => {
  it('exports, switches, and prunes a replaced generation an hour later without running out of stack', async () => {
    const store = join(tempDir(), 'store');
    const dest = join(tempDir(), 'export');
    const run = async (...args: string[]) => {
      const r = await gbp(['--store', store, ...args]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    };
    for (const [id, variant] of [['1', 'a'], ['2', 'b'], ['3', 'c']]) await run('pull', await bigArchive(variant), '-m', 'web', '-b', id);
    const publishAndExport = async (id: string, at: number) => {
      await run('publish', 'web', id);
      return exportAt(store, dest, at);
    };
    const first = await publishAndExport('1', 1_000);
    expect(first.fetched.files).toBeGreaterThanOrEqual(FILES); // every object came from the store's packs
    await publishAndExport('2', 1_010); // build 1's generation is kept for transfers still reading it
    await publishAndExport('3', 1_020);
    expect(generations(dest)).toEqual(['gen-1', 'gen-2', 'gen-3']);
    // an hour later (a --watch tick, nothing new): of the two idle generations the older goes
    const later = await exportAt(store, dest, 10_000);
    expect(later.targets.find((t) => t.link === 'web/test_repo')).toMatchObject({ build: '3', status: 'unchanged' });
    expect(later.fetched).toEqual({ files: 0, bytes: 0 });
    expect(generations(dest)).toEqual(['gen-2', 'gen-3']);
    // the objects only the pruned generation linked are gone; those still served stay
    const served = later.paths.repos!;
    expect(served).toBe(join(dest, 'repos', 'gen-3'));
    expect(readdirSync(join(served, 'web/test_repo/big/d0'))).toHaveLength(1000);
    expect(readFileSync(join(served, 'web/test_repo/big/d0/f0'), 'utf8')).toBe('0/0c\n');
    expect(statSync(join(served, 'web/test_repo/big/d0/f1')).nlink).toBe(3); // the cache's name, gen-2's and gen-3's
    const onlyGen1 = createHash('sha256').update('0/0a\n').digest('hex');
    expect(readdirSync(join(dest, '.gbp-export/objects', onlyGen1.slice(0, 2))).filter((n) => n.startsWith(onlyGen1))).toEqual([]);
  }, 300_000);
});

const generations = (dest: string) => readdirSync(join(dest, 'repos')).filter((n) => n.startsWith('gen-')).sort();
