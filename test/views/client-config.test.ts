/**
 * Client configuration: what a user copies into /etc/portage. Parsed the way Portage's
 * configparser reads it, and checked against the store: the sync-uri serves the published index,
 * verify-signature tells the truth about the packages.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gbp, tempDir } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';

/** INI as Portage's configparser reads binrepos.conf / repos.conf: sections of `key = value`. */
function ini(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  let section = '';
  for (const line of text.split('\n')) {
    if (!line.trim() || line.trim().startsWith('#')) continue;
    const s = /^\[(.+)\]$/.exec(line.trim());
    if (s) out[(section = s[1])] = {};
    else {
      const [k, ...v] = line.split('=');
      out[section][k.trim()] = v.join('=').trim();
    }
  }
  return out;
}

const BASE = 'https://binhost.example.org';

describe('client configuration', () => {
  it('points a machine at its published packages and repositories, signed packages verified', async () => {
    const store = tempDir();
    expect((await gbp(['--store', store, '--base-url', BASE, 'pull', fixture('build-archive/build.tar.gz'), '-m', 'web', '-b', '1', '--publish', '--tag', 'stable'])).code).toBe(0);
    const r = await gbp(['--store', store, '--json', 'client-config', 'web']);
    expect(r.code, r.stderr).toBe(0);
    const bin = ini(r.json().binrepos);
    expect(bin.web).toEqual({ 'sync-uri': `${BASE}/machines/web/binpkgs`, priority: '10', 'verify-signature': 'true', location: '/var/cache/binhost/web' });
    expect(r.json().binrepos).toMatch(/# every package of build 1 is a signed GPKG/);
    // the sync-uri is where the published index is
    expect(existsSync(join(store, bin.web['sync-uri'].slice(BASE.length + 1), 'Packages.gz'))).toBe(true);
    expect(ini(r.json().repos)).toEqual({
      test_repo: { location: '/var/db/repos/test_repo', 'sync-type': 'rsync', 'sync-uri': 'rsync://binhost.example.org/repos/web/test_repo', 'sync-rsync-verify-metamanifest': 'no' },
    });
    expect(r.json().repos).toMatch(/# no signed top-level Manifest in this tree .*\nsync-rsync-verify-metamanifest = no/);
    expect(r.json()).toMatchObject({ reposPath: '/etc/portage/repos.conf/gbp-web.conf', binreposPath: '/etc/portage/binrepos.conf/web.conf' });
    // the same files are published beside the index, for people and scripts to fetch
    expect(readFileSync(join(store, 'machines/web/binrepos.conf'), 'utf8')).toBe(r.json().binrepos);
    expect(readFileSync(join(store, 'machines/web/repos.conf'), 'utf8')).toBe(r.json().repos);
    const tagged = (await gbp(['--store', store, '--json', 'client-config', 'web', '--tag', 'stable'])).json();
    expect(ini(tagged.binrepos)['web-stable']['sync-uri']).toBe(`${BASE}/machines/web/tags/stable/binpkgs`);
    expect(ini(tagged.repos).test_repo['sync-uri']).toBe('rsync://binhost.example.org/repos/web@stable/test_repo');
    expect(readFileSync(join(store, 'machines/web/tags/stable/repos.conf'), 'utf8')).toBe(tagged.repos);
  });

  it('says verify-signature = false, and why, when the packages are unsigned', async () => {
    const fx = tempDir();
    const GENERATE = resolve(__dirname, '../../dist/scripts/fixtures/generate.js');
    expect(spawnSync(process.execPath, [GENERATE, '--size', 'small', '--out', fx, '--machines', '1', '--builds', '1']).status).toBe(0);
    const store = tempDir();
    expect((await gbp(['--store', store, 'pull', join(fx, 'machine1/build-1.tar.gz'), '-m', 'db', '-b', '7', '--publish'])).code).toBe(0);
    const text = (await gbp(['--store', store, 'client-config', 'db'])).stdout;
    expect(text).toMatch(/# 40 of 40 packages of build 7 are unsigned: a verifying client would refuse them\nverify-signature = false/);
  });

  it('uses a separate rsync host when told, and remembers it', async () => {
    const store = tempDir();
    expect((await gbp(['--store', store, '--rsync-url', 'rsync://mirror.example.org:8873', 'pull', fixture('build-archive/build.tar.gz'), '-m', 'web', '-b', '1', '--publish'])).code).toBe(0);
    const r = (await gbp(['--store', store, '--json', 'client-config', 'web'])).json();
    expect(ini(r.repos).test_repo['sync-uri']).toBe('rsync://mirror.example.org:8873/repos/web/test_repo');
    expect((await gbp(['--store', store, '--rsync-url', 'http://nope', 'client-config', 'web'])).code).toBe(2);
  });

  it('answers a machine without a published build with exit 5', async () => {
    const store = tempDir();
    expect((await gbp(['--store', store, 'pull', fixture('build-archive/build.tar.gz'), '-m', 'web', '-b', '1'])).code).toBe(0);
    const r = await gbp(['--store', store, 'client-config', 'web']);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/web has no published build yet/);
  });

  it('keeps Manifest verification on for a signed tree, without the age warning for a tag or a rollback', async () => {
    const { archiveMembers, tgz } = await import('../helpers/fixture-archive.js');
    const { writeFileSync } = await import('node:fs');
    const members = await archiveMembers(fixture('build-archive/build.tar.gz'));
    members.push({ path: 'repos/test_repo/Manifest', data: '-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nTIMESTAMP 2026-11-22T03:16:00Z\n-----BEGIN PGP SIGNATURE-----\n\n-----END PGP SIGNATURE-----\n' });
    const dir = tempDir();
    writeFileSync(join(dir, 'signed.tar.gz'), tgz(members));
    const store = tempDir();
    const g = (...a: string[]) => gbp(['--store', store, ...a]);
    expect((await g('pull', join(dir, 'signed.tar.gz'), '-m', 'web', '-b', '1', '--publish', '--tag', 'stable')).code).toBe(0);
    expect((await g('pull', fixture('build-archive/build2.tar.gz'), '-m', 'web', '-b', '2')).code).toBe(0);
    // build 1 is published but no longer the newest: a rollback
    const rollback = (await g('--json', 'client-config', 'web')).json().repos;
    expect(ini(rollback).test_repo).toMatchObject({ 'sync-rsync-verify-metamanifest': 'yes', 'sync-rsync-verify-max-age': '0' });
    expect(rollback).toMatch(/# a rollback to build 1/);
    const tag = (await g('--json', 'client-config', 'web', '--tag', 'stable')).json().repos;
    expect(ini(tag).test_repo).toMatchObject({ 'sync-rsync-verify-metamanifest': 'yes', 'sync-rsync-verify-max-age': '0' });
    expect((await g('publish', 'web', '2')).code).toBe(0);
    expect(ini((await g('--json', 'client-config', 'web')).json().repos).test_repo).toEqual(expect.objectContaining({ 'sync-rsync-verify-metamanifest': 'no' }));
  });
});
