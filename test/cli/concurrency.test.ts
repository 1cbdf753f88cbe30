/**
 * Parallel Jenkins jobs publish at once (invariant 5): every build is recorded, exactly one is
 * published, the published view matches the state, and a package both jobs bring is stored once.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePackages } from '../../src/binpkg/packages-index.js';
import { clientReads } from '../helpers/client.js';
import { gbp, tempDir } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';

const BUILD1 = fixture('build-archive/build.tar.gz');
const BUILD2 = fixture('build-archive/build2.tar.gz');

describe('concurrent publishers', () => {
  it('two jobs of one machine at once: both builds recorded, one published, nothing lost', async () => {
    const store = tempDir();
    const jobs = await Promise.all(
      [BUILD1, BUILD2, BUILD1, BUILD2].map((archive, i) => gbp(['--store', store, 'pull', archive, '-m', 'web', '-b', String(i + 1), '--publish'])),
    );
    for (const j of jobs) expect(j.code, j.stderr).toBe(0);
    const state = JSON.parse(readFileSync(join(store, 'machines/web/state.json'), 'utf8'));
    expect(state.builds.map((b: { id: string }) => b.id).sort()).toEqual(['1', '2', '3', '4']);
    expect(['1', '2', '3', '4']).toContain(state.published);
    // the view clients read is the published build's index, not a mixture
    const view = clientReads(store, 'machines/web/binpkgs', 'http://localhost:8080');
    const own = parsePackages(readFileSync(join(store, `builds/web/${state.published}/binpkgs/Packages`), 'utf8'));
    expect(view.entries).toEqual(own.entries);
  });

  it('two machines at once never block each other and share their packages', async () => {
    const store = tempDir();
    const [a, b] = await Promise.all([
      gbp(['--store', store, '--json', 'pull', BUILD1, '-m', 'web', '-b', '1', '--publish']),
      gbp(['--store', store, '--json', 'pull', BUILD1, '-m', 'mail', '-b', '1', '--publish']),
    ]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    clientReads(store, 'machines/web/binpkgs', 'http://localhost:8080');
    clientReads(store, 'machines/mail/binpkgs', 'http://localhost:8080');
    const metas = new Set<string>();
    for (const m of ['web', 'mail']) {
      for (const e of parsePackages(readFileSync(join(store, `machines/${m}/binpkgs/Packages`), 'utf8')).entries) metas.add(e.PATH);
    }
    expect(metas.size).toBe(5); // one blob per package, whichever job stored it
  });

  it('tags get their own index, and notes are kept', async () => {
    const store = tempDir();
    const r = await gbp(['--store', store, 'pull', BUILD1, '-m', 'web', '-b', '1', '--tag', 'stable', '--note', 'known good <b>kernel</b>']);
    expect(r.code, r.stderr).toBe(0);
    expect(clientReads(store, 'machines/web/tags/stable/binpkgs', 'http://localhost:8080').entries).toHaveLength(5);
    const list = await gbp(['--store', store, '--json', 'list', 'web']);
    expect(list.json()[0]).toMatchObject({ id: '1', tags: ['stable'], note: 'known good <b>kernel</b>', published: false });
    const bad = await gbp(['--store', store, 'pull', BUILD2, '-m', 'web', '-b', '2', '--tag', '../x']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/invalid tag/);
  });
});
