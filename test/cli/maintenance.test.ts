/**
 * Storage that does not grow forever, and a store one can trust: purge by retention, gc by mark
 * and sweep with a grace period (and its guard), fsck that names what is wrong and repairs what is
 * derived. Each checked the way a user would: the store listing, a client's view, exit codes.
 */
import { readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clientReads } from '../helpers/client.js';
import { gbp, snapshot, tempDir } from '../helpers/cli.js';
import { BUILD1, BUILD2, twoBuilds } from '../helpers/stores.js';

const TOOLS_SHA = 'b0825add5e97b292b5d17a9f36231f9cf02d9c9e262517fa340e60d79fe774e5'; // only in build 1

const blobs = (store: string) => readdirSync(join(store, 'blobs'), { recursive: true }).filter((p) => String(p).endsWith('.gpkg.tar')).length;

/** Makes every package, tree and pack look `days` old (indexes keep their TIMESTAMP mtimes). */
function age(store: string, days: number): void {
  const t = Date.now() / 1000 - days * 86400;
  for (const dir of ['blobs', 'trees', 'packs']) {
    for (const p of readdirSync(join(store, dir), { recursive: true })) utimesSync(join(store, dir, String(p)), t, t);
  }
}

describe('gbp purge', () => {
  it('--dry-run says what would go and changes nothing; then purge removes it', async () => {
    const { store, g } = await twoBuilds();
    const before = snapshot(store);
    const dry = await g('--json', 'purge', '--keep-last', '1', '--dry-run');
    // build 1's five packages, of which only tools-0.5 is not in build 2
    expect(dry.json().machines).toMatchObject([{ machine: 'web', builds: [{ id: '1', packagesBytes: 5 * 20480 }], freedBytes: 20480 }]);
    expect(snapshot(store)).toEqual(before);
    expect((await g('purge', '--keep-last', '1')).code).toBe(0);
    expect((await g('--json', 'list', 'web')).json().map((b: { id: string }) => b.id)).toEqual(['2']);
    expect(Object.keys(snapshot(store)).some((k) => k.startsWith('builds/web/1'))).toBe(false);
    clientReads(store, 'machines/web/binpkgs', 'http://localhost:8080');
  });

  it('never removes a published, tagged or kept build', async () => {
    const { g } = await twoBuilds();
    expect((await g('tag', 'web', '1', 'stable')).code).toBe(0);
    expect((await g('--json', 'purge', '--keep-last', '1')).json().machines[0].builds).toEqual([]);
    expect((await g('tag', 'web', 'stable', '--remove')).code).toBe(0);
    expect((await g('keep', 'web', '1')).code).toBe(0);
    expect((await g('--json', 'purge', '--keep-last', '1')).json().machines[0].builds).toEqual([]);
  });
});

describe('gbp gc', () => {
  it('deletes what no build uses only after the grace period, and clients never meet a 404', async () => {
    const { store, g } = await twoBuilds();
    expect((await g('purge', '--keep-last', '1')).code).toBe(0);
    let r = await g('--json', 'gc');
    expect(r.json()).toMatchObject({ deleted: 0 });
    expect(r.json().tooYoung).toBeGreaterThan(0); // unused, but not for 24 h yet
    expect(blobs(store)).toBe(7);
    age(store, 2);
    r = await g('--json', 'gc');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().garbage.map((x: { what: string }) => x.what)).toContain(`blob ${TOOLS_SHA}`);
    expect(blobs(store)).toBe(6);
    clientReads(store, 'machines/web/binpkgs', 'http://localhost:8080');
    clientReads(store, 'builds/web/2/binpkgs', 'http://localhost:8080');
    expect((await g('fsck')).code).toBe(0);
  });

  it('an old unused package that a new pull brings back is not collected', async () => {
    const { store, g } = await twoBuilds();
    expect((await g('purge', '--keep-last', '1')).code).toBe(0);
    age(store, 2); // tools-0.5 is now unreferenced and two days old
    expect((await g('pull', BUILD1, '-m', 'web', '-b', '3', '--publish')).code).toBe(0); // reuses it
    const r = await g('--json', 'gc');
    expect(r.json().garbage.map((x: { what: string }) => x.what)).not.toContain(`blob ${TOOLS_SHA}`);
    clientReads(store, 'machines/web/binpkgs', 'http://localhost:8080');
  });

  it('gc running while a pull reuses old unused packages loses nothing', async () => {
    for (let round = 0; round < 3; round++) {
      const { store, g } = await twoBuilds();
      expect((await g('purge', '--keep-last', '1')).code).toBe(0);
      age(store, 2);
      const [pull, gc] = await Promise.all([g('pull', BUILD1, '-m', 'mail', '-b', '1', '--publish'), g('gc')]);
      expect(gc.code, gc.stderr).toBe(0);
      // either the pull recorded a complete build, or it refused and recorded nothing
      if (pull.code === 0) clientReads(store, 'machines/mail/binpkgs', 'http://localhost:8080');
      else {
        expect(pull.code).toBe(4);
        expect(pull.stderr).toMatch(/a concurrent gc removed this object while this pull was reusing it/);
        expect((await g('list')).stdout).not.toMatch(/^mail/m);
      }
      clientReads(store, 'machines/web/binpkgs', 'http://localhost:8080');
      expect((await g('fsck', '--quick')).code).toBe(0);
    }
  });

  it('refuses an unexpectedly large deletion unless forced (exit 4)', async () => {
    const { store, g } = await twoBuilds();
    age(store, 2);
    rmSync(join(store, 'machines/web/state.json')); // a lost state file must not empty the store
    const r = await g('gc');
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/would delete \d+ of \d+ objects \(more than 50 %\); check the machines' state, then run with --force/);
    expect(blobs(store)).toBe(7);
  });
});

describe('gbp fsck', () => {
  it('names a corrupt package and a corrupt repository file (exit 8)', async () => {
    const { store, g } = await twoBuilds();
    expect((await g('fsck')).code).toBe(0);
    const blobDir = join(store, 'blobs', TOOLS_SHA.slice(0, 2), TOOLS_SHA);
    const blob = join(blobDir, readdirSync(blobDir).find((n) => n.endsWith('.gpkg.tar'))!);
    const bytes = readFileSync(blob);
    bytes[5000] ^= 0xff;
    writeFileSync(blob, bytes);
    const packDir = join(store, 'packs');
    const pack = join(packDir, String(readdirSync(packDir, { recursive: true }).find((p) => String(p).endsWith('.pack'))));
    const packBytes = readFileSync(pack);
    packBytes[10] ^= 0xff;
    writeFileSync(pack, packBytes);
    const r = await g('--json', 'fsck');
    expect(r.code).toBe(8);
    const problems = r.json().problems.map((p: { key: string; problem: string }) => `${p.key}: ${p.problem}`);
    expect(problems).toContainEqual(expect.stringMatching(new RegExp(`^blobs/b0/${TOOLS_SHA}/tools-0\\.5-1\\.gpkg\\.tar: content does not match`)));
    expect(problems).toContainEqual(expect.stringMatching(/^packs\/\w\w\/\w+\.pack@0: .+ does not match its SHA-256 \(corrupt; pull an archive that holds it to restore it\)$/));
  });

  it('damage fsck names is restored by the next pull that brings the bytes, even of a stored build', async () => {
    // incident: re-pulling the same archive said "nothing to do", and the corrupt package stayed
    const { store, g } = await twoBuilds();
    const blobDir = join(store, 'blobs', TOOLS_SHA.slice(0, 2), TOOLS_SHA);
    const blob = join(blobDir, readdirSync(blobDir).find((n) => n.endsWith('.gpkg.tar'))!);
    const good = readFileSync(blob);
    const bad = Buffer.from(good);
    bad[5000] ^= 0xff;
    writeFileSync(blob, bad);
    const packDir = join(store, 'packs');
    const packs = (readdirSync(packDir, { recursive: true }) as string[]).filter((p) => p.endsWith('.pack')).map((p) => join(packDir, p));
    const packBefore = packs.map((p) => readFileSync(p));
    for (const p of packs) {
      const b = readFileSync(p);
      b[0] ^= 0xff;
      writeFileSync(p, b);
    }
    expect((await g('fsck')).code).toBe(8);
    const again = await g('--json', 'pull', BUILD1, '-m', 'web', '-b', '1');
    expect(again.code, again.stderr).toBe(0);
    expect(again.json()).toMatchObject({ status: 'unchanged', restored: { blobs: 1 } });
    expect(readFileSync(blob)).toEqual(good);
    // build 2's own files too, where build 1's archive holds the same bytes
    const r2 = await g('--json', 'pull', BUILD2, '-m', 'web', '-b', '2');
    expect(r2.code, r2.stderr).toBe(0);
    const fsck = await g('--json', 'fsck');
    expect(fsck.json().problems).toEqual([]);
    expect(fsck.code).toBe(0);
    expect(packs.map((p) => readFileSync(p))).toEqual(packBefore);
    // nothing left to restore: the next pull of a stored build is the quick no-op again
    expect(Object.keys(snapshot(store))).not.toContain('damage.json');
  });

  it('a publish killed between Packages and Packages.gz is finished by re-running it, and fsck sees it', async () => {
    const { store, g } = await twoBuilds();
    const dir = join(store, 'machines/web/binpkgs');
    const gzOfBuild2 = readFileSync(join(dir, 'Packages.gz'));
    expect((await g('publish', 'web', '1')).code).toBe(0);
    writeFileSync(join(dir, 'Packages.gz'), gzOfBuild2); // as if killed before the second write
    expect((await g('fsck', '--quick')).code).toBe(8);
    expect((await g('publish', 'web', '1')).code).toBe(0);
    expect(clientReads(store, 'machines/web/binpkgs', 'http://localhost:8080').entries).toHaveLength(5);
  });

  it('--repair regenerates a damaged published index', async () => {
    const { store, g } = await twoBuilds();
    writeFileSync(join(store, 'machines/web/binpkgs/Packages'), 'VERSION: 0\n\n');
    let r = await g('fsck');
    expect(r.code).toBe(8);
    expect(r.stdout).toMatch(/PROBLEM  machines\/web\/binpkgs\/Packages: does not serve build 2/);
    r = await g('fsck', '--repair');
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/repaired machines\/web\/binpkgs\/Packages/);
    expect(clientReads(store, 'machines/web/binpkgs', 'http://localhost:8080').entries).toHaveLength(6);
    expect((await g('fsck')).code).toBe(0);
  });
});
