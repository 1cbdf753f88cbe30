/**
 * Build logs: a pull from a Jenkins artifact URL keeps the build's consoleText (same credentials),
 * --log keeps a file, the summary (packages merged, failure lines, Jenkins' verdict) is on the
 * build page, gbp log-text prints it, gbp search-logs finds it, gbp sync carries it. The local
 * server answers as Jenkins does: Basic auth, consoleText beside the artifacts.
 */
import { createReadStream, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gbp, snapshot, tempDir } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';

const AUTH = `Basic ${Buffer.from('ci-bot:token').toString('base64')}`;
const CONSOLE = [
  'Started by timer',
  '>>> Emerging (1 of 2) app-misc/hello-1.0::test_repo',
  '>>> Completed (1 of 2) app-misc/hello-1.0::test_repo',
  '>>> Emerging (2 of 2) app-misc/motd-1.0::test_repo',
  ' * ERROR: app-misc/motd-1.0::test_repo failed (compile phase):',
  '!!! the motd build failed',
  'Finished: FAILURE',
  '',
].join('\n');
let server: Server;
let base = '';
const seen: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.url!);
    if (req.headers.authorization !== AUTH) return void res.writeHead(401).end('Unauthorized');
    if (req.url === '/job/web/7/artifact/build.tar.gz' || req.url === '/job/web/8/artifact/build.tar.gz') {
      res.writeHead(200, { 'content-type': 'application/x-gzip' });
      createReadStream(fixture('build-archive/build.tar.gz')).pipe(res);
      return;
    }
    if (req.url === '/job/web/7/consoleText') return void res.writeHead(200, { 'content-type': 'text/plain' }).end(CONSOLE);
    res.writeHead(404).end('Not Found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const creds = { GBP_HTTP_USER: 'ci-bot', GBP_HTTP_TOKEN: 'token' };

describe('build logs', () => {
  it("a Jenkins pull keeps the build's consoleText; the page, log-text, search-logs and sync show it", async () => {
    const store = tempDir();
    const r = await gbp(['--store', store, '--json', 'pull', `${base}/job/web/7/artifact/build.tar.gz`, '-m', 'web', '-b', '7', '--publish'], { env: creds });
    expect(r.code, r.stderr).toBe(0);
    expect(seen).toContain('/job/web/7/consoleText');
    expect(r.json().log).toMatchObject({
      source: `${base}/job/web/7/consoleText`,
      lines: 7,
      bytes: CONSOLE.length,
      summary: { merged: 1, planned: 2, result: 'FAILURE', failures: [' * ERROR: app-misc/motd-1.0::test_repo failed (compile phase):', '!!! the motd build failed'] },
    });
    const text = await gbp(['--store', store, 'log-text', 'web', '@']);
    expect(text.code).toBe(0);
    expect(text.stdout).toBe(CONSOLE);
    const page = readFileSync(join(store, 'builds/web/7/index.html'), 'utf8');
    expect(page).toMatch(/<details id="log"><summary>7 lines, .* · Jenkins: <span class="problem">FAILURE<\/span> · 1 of 2 packages merged · <span class="problem">2 failure lines<\/span>/);
    expect(page).toContain('!!! the motd build failed');

    // a second build with no consoleText: stored all the same, with a warning
    const second = await gbp(['--store', store, '--json', 'pull', `${base}/job/web/8/artifact/build.tar.gz`, '-m', 'web', '-b', '8'], { env: creds });
    expect(second.code, second.stderr).toBe(0);
    expect(second.json().warnings.join('\n')).toMatch(/no console log kept: .*HTTP 404/);
    expect((await gbp(['--store', store, 'log-text', 'web', '8'])).code).toBe(5);

    const found = await gbp(['--store', store, '--json', 'search-logs', 'motd.*failed']);
    expect(found.code).toBe(0);
    expect(found.json()).toEqual([{ machine: 'web', id: '7', created: expect.any(Number), matches: 2, lines: [{ number: 5, text: CONSOLE.split('\n')[4] }, { number: 6, text: '!!! the motd build failed' }] }]);
    expect((await gbp(['--store', store, '--json', 'search-logs', 'nothing like this'])).json()).toEqual([]);
    expect((await gbp(['--store', store, 'search-logs', '(unclosed'])).code).toBe(2);

    const copy = tempDir();
    expect((await gbp(['sync', store, copy])).code).toBe(0);
    expect((await gbp(['--store', copy, 'log-text', 'web', '7'])).stdout).toBe(CONSOLE);
    expect((await gbp(['--store', copy, 'fsck'])).code).toBe(0);
  });

  it('--log keeps a file; --no-log keeps none; a log that cannot be read stores nothing', async () => {
    const store = tempDir();
    const log = join(tempDir(), 'console.txt');
    writeFileSync(log, 'Finished: SUCCESS\n');
    const r = await gbp(['--store', store, '--json', 'pull', fixture('build-archive/build.tar.gz'), '-m', 'web', '-b', '1', '--log', log]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().log.summary.result).toBe('SUCCESS');
    expect(existsSync(join(store, 'builds/web/1/log.txt.gz'))).toBe(true);

    const before = snapshot(store);
    const missing = await gbp(['--store', store, 'pull', fixture('build-archive/build2.tar.gz'), '-m', 'web', '-b', '2', '--log', join(tempDir(), 'none.txt')]);
    expect(missing.code).toBe(7);
    expect(snapshot(store)).toEqual(before);
    const both = await gbp(['--store', store, 'pull', '-', '-m', 'web', '-b', '2', '--log', '-'], { input: readFileSync(fixture('build-archive/build2.tar.gz')) });
    expect(both.code).toBe(2);

    const none = await gbp(['--store', store, '--json', 'pull', `${base}/job/web/7/artifact/build.tar.gz`, '-m', 'web', '-b', '3', '--no-log'], { env: creds });
    expect(none.code, none.stderr).toBe(0);
    expect(none.json().log ?? null).toBeNull();
    expect(existsSync(join(store, 'builds/web/3/log.txt.gz'))).toBe(false);
  });
});
