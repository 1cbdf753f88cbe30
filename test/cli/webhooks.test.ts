/**
 * Webhooks against a real local HTTP receiver that checks each body's HMAC signature the way a
 * receiver of GitHub's hooks does: the events of a machine's life arrive in order with what
 * changed, a receiver that is down, slow or refusing never fails the publish (and says so in
 * the output and --json), and a hook's secret never reaches the store or the listing.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gbp, snapshot, tempDir } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';

const BUILD1 = fixture('build-archive/build.tar.gz');
const BUILD2 = fixture('build-archive/build2.tar.gz');
const SECRET = 'receiver-secret-0123456789abcdef';

interface Received {
  path: string;
  event: string;
  signatureValid: boolean | null;
  body: any;
}

/** A receiver: answers by path (/ok, /flaky: 500 twice, /refuse: 401, /hang: never), checks signatures. */
class Receiver {
  readonly got: Received[] = [];
  private flaky = 0;
  private server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer(async (req, res) => {
      const raw = await body(req);
      const sig = req.headers['x-gbp-signature-256'];
      const expected = `sha256=${createHmac('sha256', SECRET).update(raw).digest('hex')}`;
      const valid = typeof sig === 'string' ? sig.length === expected.length && timingSafeEqual(Buffer.from(sig), Buffer.from(expected)) : null;
      this.got.push({ path: req.url!, event: String(req.headers['x-gbp-event']), signatureValid: valid, body: JSON.parse(raw.toString('utf8')) });
      if (req.url === '/hang') return; // never answers
      if (req.url === '/refuse') return void res.writeHead(401).end();
      if (req.url === '/flaky' && this.flaky++ < 2) return void res.writeHead(500).end();
      if (valid === false) return void res.writeHead(403).end();
      res.writeHead(204).end();
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    const a = this.server.address() as { port: number };
    this.url = `http://127.0.0.1:${a.port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  take(path: string): Received[] {
    const mine = this.got.filter((g) => g.path === path);
    this.got.splice(0, this.got.length, ...this.got.filter((g) => g.path !== path));
    return mine;
  }
}

function body(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts)));
  });
}

const receiver = new Receiver();
beforeAll(() => receiver.start());
afterAll(() => receiver.stop());

function publisher() {
  const store = tempDir();
  const hooksFile = join(tempDir(), 'gbp', 'hooks.json');
  const env = { GBP_HOOKS_FILE: hooksFile, GBP_HOOK_TIMEOUT_MS: '400', GBP_HOOK_BACKOFF_MS: '50' };
  const run = (args: string[], input?: Buffer) => gbp(['--store', store, '--base-url', 'https://binhost.example.org', ...args], { env, input });
  return { store, hooksFile, run };
}

describe('webhooks', () => {
  it("tells a signed receiver each event of a machine's life, in order, with what changed", async () => {
    const p = publisher();
    const add = await p.run(['hooks', 'add', `${receiver.url}/ok`, '--secret', '-'], Buffer.from(`${SECRET}\n`));
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toContain('signed');
    expect(statSync(p.hooksFile).mode & 0o777).toBe(0o600);

    const pulled = await p.run(['--json', 'pull', BUILD1, '-m', 'web', '-b', '1', '--publish']);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.json().hooks.map((d: any) => [d.event, d.ok, d.status])).toEqual([
      ['pulled', true, 204],
      ['published', true, 204],
    ]);
    let got = receiver.take('/ok');
    expect(got.map((g) => [g.event, g.body.event, g.signatureValid])).toEqual([
      ['pulled', 'pulled', true],
      ['published', 'published', true],
    ]);
    const first = got[0].body;
    expect(first).toMatchObject({ version: 1, machine: 'web', build: '1', site: 'https://binhost.example.org' });
    expect(first.changes.against).toBeNull();
    expect(first.changes.counts.added).toBeGreaterThan(0);
    expect(first.changes.counts.added).toBe(first.changes.packages.length);
    expect(first.links.build).toBe('https://binhost.example.org/builds/web/1/index.html');
    expect(got[1].body.previous).toBeNull();
    expect(new Set(got.map((g) => g.body.delivery)).size).toBe(2);

    // the next build, a rollback, a tag and a delete
    expect((await p.run(['pull', BUILD2, '-m', 'web', '-b', '2', '--publish'])).code).toBe(0);
    got = receiver.take('/ok');
    expect(got.map((g) => g.event)).toEqual(['pulled', 'published']);
    expect(got[0].body.changes.against).toBe('1');
    const rollback = await p.run(['publish', 'web', '1']);
    expect(rollback.code, rollback.stderr).toBe(0);
    expect(rollback.stdout).toMatch(/hook +published → http:\/\/127\.0\.0\.1:\d+\/ok \(HTTP 204\)/);
    const [back] = receiver.take('/ok');
    expect(back.body).toMatchObject({ event: 'published', build: '1', previous: '2' });
    // going back is the reverse of going forward
    expect(back.body.changes.counts.added).toBe(got[1].body.changes.counts.removed);

    expect((await p.run(['tag', 'web', '2', 'stable'])).code).toBe(0);
    expect(receiver.take('/ok').map((g) => [g.event, g.body.tag, g.body.build, g.body.previous])).toEqual([['tagged', 'stable', '2', null]]);
    expect((await p.run(['tag', 'web', '2', 'stable'])).code).toBe(0); // unchanged: nothing to say
    expect(receiver.take('/ok')).toEqual([]);

    expect((await p.run(['pull', BUILD1, '-m', 'web', '-b', '3'])).code).toBe(0);
    expect((await p.run(['pull', BUILD1, '-m', 'web', '-b', '3'])).code).toBe(0); // the same archive again: no event
    expect(receiver.take('/ok').map((g) => g.event)).toEqual(['pulled']);
    expect((await p.run(['delete', 'web', '3', '--dry-run'])).code).toBe(0);
    expect(receiver.take('/ok')).toEqual([]);
    expect((await p.run(['delete', 'web', '3'])).code).toBe(0);
    expect(receiver.take('/ok').map((g) => [g.event, g.body.builds, g.body.wholeMachine])).toEqual([['deleted', ['3'], false]]);

    // nothing of the hook is in the store, which is served to everyone
    const stored = Object.keys(snapshot(p.store));
    expect(stored.filter((name) => /hook/.test(name))).toEqual([]);
    for (const name of stored.filter((n) => statSync(join(p.store, n)).isFile())) expect(readFileSync(join(p.store, name)).includes(SECRET), name).toBe(false);
  });

  it('sends each hook only the events it asked for; an unsigned hook has no signature header', async () => {
    const p = publisher();
    expect((await p.run(['hooks', 'add', `${receiver.url}/ok?only=deleted`, '--events', 'deleted'])).code).toBe(0);
    const r = await p.run(['--json', 'pull', BUILD1, '-m', 'web', '-b', '1', '--publish']);
    expect(r.json().hooks).toEqual([]);
    expect(receiver.take('/ok?only=deleted')).toEqual([]);
    expect((await p.run(['delete', 'web', '--force'])).code).toBe(0);
    const got = receiver.take('/ok?only=deleted');
    expect(got.map((g) => [g.event, g.signatureValid, g.body.wholeMachine])).toEqual([['deleted', null, true]]);
  });

  it('a receiver that fails, refuses or hangs never fails the publish; it is retried within bounds and reported', async () => {
    const p = publisher();
    for (const path of ['flaky', 'refuse', 'hang']) expect((await p.run(['hooks', 'add', `${receiver.url}/${path}`, '--secret', SECRET])).code).toBe(0);
    const started = Date.now();
    const r = await p.run(['--json', 'pull', BUILD1, '-m', 'web', '-b', '1', '--publish']);
    const took = Date.now() - started;
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(p.store, 'machines/web/binpkgs/Packages'), 'utf8')).toContain('CPV:');
    const by = (path: string) => r.json().hooks.filter((d: any) => d.url.endsWith(`/${path}`));
    // 500, 500, then 204 for the first event; the next event succeeds at once
    expect(by('flaky').map((d: any) => [d.event, d.ok, d.attempts])).toEqual([
      ['pulled', true, 3],
      ['published', true, 1],
    ]);
    // a 401 is the receiver's answer: not asked again
    expect(by('refuse').map((d: any) => [d.ok, d.status, d.attempts, d.error])).toEqual([
      [false, 401, 1, 'HTTP 401 Unauthorized'],
      [false, 401, 1, 'HTTP 401 Unauthorized'],
    ]);
    expect(by('hang').every((d: any) => !d.ok && d.status === null && d.attempts === 3 && /no answer in 0\.4 s/.test(d.error))).toBe(true);
    // two events × three attempts × 0.4 s and the back-off, not the default 5 s per attempt
    expect(took).toBeLessThan(15_000);
    receiver.take('/flaky');
    receiver.take('/refuse');
    receiver.take('/hang');

    const text = await p.run(['publish', 'web', '1']);
    expect(text.code).toBe(0); // already published: no event
    expect((await p.run(['pull', BUILD2, '-m', 'web', '-b', '2', '--publish'])).stderr).toMatch(/warning: webhook \w{8} \(http:\/\/127\.0\.0\.1:\d+\/refuse\) did not take 'pulled': HTTP 401 Unauthorized \(1 attempt\)/);
  });

  it('the whole delivery has a time budget, however many hooks hang', async () => {
    const p = publisher();
    for (let i = 0; i < 4; i++) expect((await p.run(['hooks', 'add', `${receiver.url}/hang?n=${i}`])).code).toBe(0);
    const started = Date.now();
    const r = await gbp(['--store', p.store, '--json', 'pull', BUILD1, '-m', 'web', '-b', '1', '--publish', '--tag', 'a'], {
      env: { GBP_HOOKS_FILE: p.hooksFile, GBP_HOOK_TIMEOUT_MS: '60000', GBP_HOOK_BUDGET_MS: '1500' },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    const hooks = r.json().hooks;
    expect(hooks.length).toBe(12); // 4 hooks × pulled, published, tagged
    expect(hooks.every((d: any) => !d.ok)).toBe(true);
    expect(hooks.filter((d: any) => /time budget was spent/.test(d.error)).length).toBeGreaterThan(0);
    for (let i = 0; i < 4; i++) receiver.take(`/hang?n=${i}`);
  });

  it('refuses bad hook settings with a clear error and changes nothing; a damaged hooks file never fails a pull', async () => {
    const p = publisher();
    const bad = [
      [['hooks', 'add', 'ftp://example.org/x'], 'must be an http:// or https:// URL'],
      [['hooks', 'add', 'not a url'], 'is not an absolute URL'],
      [['hooks', 'add', `${receiver.url}/ok`, '--events', 'pulled,exploded'], 'unknown event exploded'],
      [['hooks', 'add', `${receiver.url}/ok`, '--secret', 'short'], 'at least 16 characters'],
      [['hooks', 'remove', 'deadbeef'], 'no such hook'],
    ] as const;
    for (const [args, message] of bad) {
      const r = await p.run([...args]);
      expect(r.code, args.join(' ')).toBe(args[1] === 'remove' ? 5 : 2);
      expect(r.stderr).toContain(message);
    }
    expect(() => statSync(p.hooksFile)).toThrow();

    mkdirSync(dirname(p.hooksFile), { recursive: true });
    writeFileSync(p.hooksFile, '{ not json');
    const r = await p.run(['pull', BUILD1, '-m', 'web', '-b', '1', '--publish']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('no webhook was called');
    expect(r.stderr).toContain('is not valid JSON');
    expect((await p.run(['hooks', 'list'])).code).toBe(6);
  });

  it('lists hooks without their secret or the secret-bearing part of their URL, and pings them', async () => {
    const p = publisher();
    const url = `${receiver.url}/ok/T0000/B1111/secretpart`;
    expect((await p.run(['hooks', 'add', url, '--secret', SECRET])).code).toBe(0);
    const again = await p.run(['--json', 'hooks', 'add', url, '--events', 'published', '--secret', SECRET]);
    expect(again.json()).toMatchObject({ replaced: true, hook: { events: ['published'], secret: true } });
    const list = await p.run(['hooks', 'list']);
    expect(list.stdout).toContain('/ok/…');
    expect(list.stdout).not.toContain('secretpart');
    expect(list.stdout).not.toContain(SECRET);
    const json = await p.run(['--json', 'hooks', 'list']);
    expect(json.json()).toHaveLength(1);
    expect(JSON.stringify(json.json())).not.toContain(SECRET);

    const ping = await p.run(['--json', 'hooks', 'test']);
    expect(ping.code, ping.stderr).toBe(0);
    expect(ping.json()[0]).toMatchObject({ event: 'ping', ok: true, status: 204 });
    const [got] = receiver.take('/ok/T0000/B1111/secretpart');
    expect([got.event, got.signatureValid]).toEqual(['ping', true]);

    expect((await p.run(['hooks', 'add', `${receiver.url}/refuse`])).code).toBe(0);
    const failing = await p.run(['hooks', 'test']);
    expect(failing.code).toBe(7);
    expect(failing.stdout).toMatch(/FAIL \w{8} http:\/\/127\.0\.0\.1:\d+\/refuse: HTTP 401/);
    receiver.take('/ok/T0000/B1111/secretpart');
    receiver.take('/refuse');
    const id = json.json()[0].id;
    expect((await p.run(['hooks', 'remove', id])).stdout).toContain(`removed hook ${id}`);
    expect((await p.run(['--json', 'hooks', 'list'])).json()).toHaveLength(1);
  });
});
