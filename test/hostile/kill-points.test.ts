/**
 * SIGKILL swept across a whole pull and a whole gc, each kill on a fresh copy of the same store,
 * so that every point lands in real work (a re-run of a finished pull is a no-op and would prove
 * nothing). After each kill: clients see one complete build, the re-run completes, fsck is clean,
 * and a killed gc does not hold the next pull up.
 */
import { spawn } from 'node:child_process';
import { cpSync, readdirSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clientReadsGz } from '../helpers/client.js';
import { GBP, gbp, tempDir } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';

const BUILD1 = fixture('build-archive/build.tar.gz');
const BUILD2 = fixture('build-archive/build2.tar.gz');
const POINTS = 20;

/** Runs gbp and SIGKILLs it after `ms` (it may finish first). */
async function killAfter(args: string[], ms: number): Promise<void> {
  const child = spawn(process.execPath, [GBP, ...args], { stdio: 'ignore' });
  const closed = new Promise((r) => child.on('close', r));
  await new Promise((r) => setTimeout(r, ms));
  child.kill('SIGKILL');
  await closed;
}

async function timed(args: string[]): Promise<number> {
  const t = performance.now();
  const r = await gbp(args);
  expect(r.code, r.stderr).toBe(0);
  return performance.now() - t;
}

describe('SIGKILL anywhere', () => {
  it(`${POINTS} points across a pull and its commit: clients see a complete build, the re-run completes`, async () => {
    const template = tempDir();
    expect((await gbp(['--store', template, 'pull', BUILD1, '-m', 'web', '-b', '1', '--publish'])).code).toBe(0);
    const probe = tempDir();
    cpSync(template, probe, { recursive: true });
    const duration = await timed(['--store', probe, 'pull', BUILD2, '-m', 'web', '-b', '2', '--publish']);
    for (let i = 1; i <= POINTS; i++) {
      const store = tempDir();
      cpSync(template, store, { recursive: true, preserveTimestamps: true });
      const pull = ['--store', store, 'pull', BUILD2, '-m', 'web', '-b', '2', '--publish'];
      await killAfter(pull, (duration * i) / (POINTS + 1));
      const view = clientReadsGz(store, 'machines/web/binpkgs', 'http://localhost:8080');
      expect([5, 6], `point ${i}`).toContain(view.entries.length);
      const again = await gbp(pull);
      expect(again.code, `point ${i}: ${again.stderr}`).toBe(0);
      expect(clientReadsGz(store, 'machines/web/binpkgs', 'http://localhost:8080').entries, `point ${i}`).toHaveLength(6);
      const fsck = await gbp(['--store', store, 'fsck']);
      expect(fsck.code, `point ${i}: ${fsck.stdout}`).toBe(0);
      expect(readdirSync(join(store, '.tmp')).filter((n) => n.startsWith('stage-'))).toEqual([]);
    }
  }, 180_000);

  it('points across a gc sweep: nothing referenced is lost, and the next pull does not wait for the dead sweep', async () => {
    const template = tempDir();
    expect((await gbp(['--store', template, 'pull', BUILD1, '-m', 'web', '-b', '1'])).code).toBe(0);
    expect((await gbp(['--store', template, 'pull', BUILD2, '-m', 'web', '-b', '2', '--publish'])).code).toBe(0);
    expect((await gbp(['--store', template, 'purge', '--keep-last', '1'])).code).toBe(0);
    const old = Date.now() / 1000 - 2 * 86400;
    for (const dir of ['blobs', 'trees', 'packs']) for (const p of readdirSync(join(template, dir), { recursive: true })) utimesSync(join(template, dir, String(p)), old, old);
    const probe = tempDir();
    cpSync(template, probe, { recursive: true, preserveTimestamps: true });
    const duration = await timed(['--store', probe, 'gc', '--force']);
    for (let i = 1; i <= 8; i++) {
      const store = tempDir();
      cpSync(template, store, { recursive: true, preserveTimestamps: true });
      await killAfter(['--store', store, 'gc', '--force'], (duration * i) / 9);
      const started = performance.now();
      const pull = await gbp(['--store', store, 'pull', BUILD1, '-m', 'mail', '-b', '1', '--publish']);
      expect(performance.now() - started, `point ${i}`).toBeLessThan(20_000); // not the 60 s+ a dead sweep once cost
      expect([0, 4], `point ${i}: ${pull.stderr}`).toContain(pull.code);
      const fsck = await gbp(['--store', store, 'fsck']);
      expect(fsck.code, `point ${i}: ${fsck.stdout}`).toBe(0);
    }
  }, 180_000);
});
