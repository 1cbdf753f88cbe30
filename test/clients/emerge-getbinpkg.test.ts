/**
 * `emerge --getbinpkgonly` by real Portage 3.0.82 against `gbp serve`, with the binrepos.conf gbp
 * publishes (only `location` moved into the test's fake root). The packages are the fixtures' own,
 * signed with Portage's test key, so `verify-signature = true` as gbp writes it is really checked.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GBP, gbp, tempDir } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';
import { PortageClient } from '../helpers/portage.js';
import { freePort } from '../helpers/ports.js';

const BUILD1 = fixture('build-archive/build.tar.gz');
const BUILD2 = fixture('build-archive/build2.tar.gz');


async function serve(store: string, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [GBP, '--store', store, '--json', 'serve', '--port', String(port), '--workers', '1'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`gbp serve exited with ${code}`)));
  });
  return child;
}

const installed = (client: PortageClient) =>
  readdirSync(join(client.eprefix, 'var/db/pkg'), { recursive: true })
    .map(String)
    .filter((p) => p.split('/').length === 2)
    .sort();

describe('emerge --getbinpkgonly from the published index (real Portage)', () => {
  const store = tempDir();
  let server: ChildProcess;
  let base = '';
  const g = (...args: string[]) => gbp(['--store', store, ...args]);
  const conf = (path: string) => readFileSync(join(store, path), 'utf8');

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    expect((await g('--base-url', base, 'pull', BUILD1, '-m', 'web', '-b', '1', '--publish', '--tag', 'stable')).code).toBe(0);
    expect((await g('pull', BUILD2, '-m', 'web', '-b', '2', '--publish')).code).toBe(0);
    expect((await g('pull', BUILD2, '-m', 'mail', '-b', '1', '--publish')).code).toBe(0);
    server = await serve(store, port);
  }, 60_000);
  afterAll(() => server?.kill());

  it('installs a package and its dependencies, every signature verified as gbp wrote it', async () => {
    const binrepos = conf('machines/web/binrepos.conf');
    expect(binrepos).toMatch(/verify-signature = true/);
    const client = await PortageClient.create();
    const r = await client.emerge(['--getbinpkgonly', '--oneshot', 'app-misc/hello'], { binrepos });
    expect(r.code, r.output).toBe(0);
    expect(installed(client)).toEqual(['app-misc/hello-1.0', 'dev-libs/libbase-1.2', 'dev-libs/libfoo-2.1.3']);
    // a second run finds everything in the binrepo's location and downloads nothing
    const again = await client.emerge(['--getbinpkgonly', '--oneshot', 'app-misc/hello'], { binrepos });
    expect(again.code, again.output).toBe(0);
    expect(again.output).not.toMatch(/HTTP request sent/); // wget, Portage's FETCHCOMMAND, did not run
  }, 180_000);

  it("a tag's index serves the tagged build, and a build's own index that build", async () => {
    const client = await PortageClient.create();
    // motd is only in build 2: the tag (build 1) does not have it
    const tagged = await client.emerge(['--getbinpkgonly', '--oneshot', '--pretend', 'app-misc/motd'], { binrepos: conf('machines/web/tags/stable/binrepos.conf') });
    expect(tagged.code).not.toBe(0);
    expect(tagged.output).toMatch(/there are no binary packages to satisfy "app-misc\/motd"|emerge: there are no/);
    const own = `[web-build-2]\nsync-uri = ${base}/builds/web/2/binpkgs\npriority = 10\nverify-signature = true\nlocation = /var/cache/binhost/web-build-2\n`;
    const r = await client.emerge(['--getbinpkgonly', '--oneshot', 'app-misc/motd'], { binrepos: own });
    expect(r.code, r.output).toBe(0);
    expect(installed(client)).toContain('app-misc/motd-1.0');
  }, 180_000);

  it('two binrepos that share packages: each package is fetched once', async () => {
    const client = await PortageClient.create();
    const both = `${conf('machines/web/binrepos.conf')}\n${conf('machines/mail/binrepos.conf')}`;
    const r = await client.emerge(['--getbinpkgonly', '--oneshot', 'app-misc/hello', 'app-misc/motd'], { binrepos: both });
    expect(r.code, r.output).toBe(0);
    expect(installed(client)).toEqual(['app-misc/hello-1.0', 'app-misc/motd-1.0', 'dev-libs/libbase-1.2', 'dev-libs/libfoo-2.1.3']);
    const cached = ['web', 'mail'].flatMap((n) => {
      const dir = join(client.eprefix, 'var/cache/binhost', n);
      return existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String).filter((p) => p.endsWith('.gpkg.tar')) : [];
    });
    expect(cached.length).toBe(new Set(cached.map((p) => p.split('/').pop())).size);
  }, 180_000);
});
