/**
 * One trust path from the builder to the client, with real Portage 3.0.82: gbp checks the
 * packages' signatures against the site's trusted key at pull, publishes that key beside the
 * indexes, and prints the steps that make a client trust it. A client set up by exactly those
 * steps installs with `verify-signature = true`; one without the key refuses the same packages,
 * so the verification is really Portage's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GBP, gbp, tempDir } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';
import { PortageClient } from '../helpers/portage.js';
import { freePort } from '../helpers/ports.js';

const BUILD1 = fixture('build-archive/build.tar.gz');
const PORTAGE_KEY = fixture('keys/portage-test-signing-key.pub.asc');


describe('a client that trusts the site by the steps gbp prints (real Portage)', () => {
  const store = tempDir();
  let server: ChildProcess;
  let config: { binrepos: string; trustSteps: string[] };
  const g = (...args: string[]) => gbp(['--store', store, ...args]);

  beforeAll(async () => {
    const port = await freePort();
    expect((await g('--base-url', `http://127.0.0.1:${port}`, 'keys', 'add', PORTAGE_KEY)).code).toBe(0);
    const pulled = await g('pull', BUILD1, '-m', 'web', '-b', '1', '--publish');
    expect(pulled.code, pulled.stderr).toBe(0);
    config = (await g('--json', 'client-config', 'web')).json();
    server = spawn(process.execPath, [GBP, '--store', store, '--json', 'serve', '--port', String(port), '--workers', '1'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      server.stdout!.once('data', () => resolve());
      server.once('exit', (code) => reject(new Error(`gbp serve exited with ${code}`)));
    });
  }, 60_000);
  afterAll(() => server?.kill());

  it('installs with every signature verified against the published key', async () => {
    expect(config.binrepos).toMatch(/verify-signature = true/);
    const steps = config.trustSteps.filter((l) => l.startsWith('#   ')).map((l) => l.slice(4));
    expect(steps.join('\n')).toMatch(/machines\/web\/keys\.asc/);
    const client = await PortageClient.create({ gnupgSteps: steps });
    const r = await client.emerge(['--getbinpkgonly', '--oneshot', 'app-misc/hello'], { binrepos: config.binrepos });
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/app-misc\/hello-1\.0/);
  }, 180_000);

  it('a client without the key refuses the same packages', async () => {
    const client = await PortageClient.create({ gnupgSteps: [] });
    const r = await client.emerge(['--getbinpkgonly', '--oneshot', 'app-misc/hello'], { binrepos: config.binrepos });
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/signed with at least one unknown key|verification failed|InvalidSignature/i);
  }, 180_000);
});
