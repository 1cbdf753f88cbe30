/**
 * Pulling straight from Jenkins: `<job>/<n>/artifact/<name>` behind HTTP Basic auth, served here
 * by a local HTTP server that answers the way Jenkins does (401 without credentials, 404 for an
 * unknown artifact).
 */
import { createReadStream } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientReads } from '../helpers/client.js';
import { gbp, snapshot, tempDir } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';

const AUTH = `Basic ${Buffer.from('ci-bot:s3cret-token').toString('base64')}`;
let server: Server;
let base = '';
let flaky = 0; // requests to /flaky/ that still fail with 503 before one succeeds

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.headers.authorization !== AUTH) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="Jenkins"' }).end('Unauthorized');
      return;
    }
    if (req.url === '/flaky/build.tar.gz' && flaky-- > 0) {
      res.writeHead(503).end('Jenkins is restarting');
      return;
    }
    if (req.url === '/job/web/42/artifact/build.tar.gz' || req.url === '/flaky/build.tar.gz') {
      res.writeHead(200, { 'content-type': 'application/x-gzip' });
      createReadStream(fixture('build-archive/build.tar.gz')).pipe(res);
      return;
    }
    res.writeHead(404).end('Not Found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const creds = { GBP_HTTP_USER: 'ci-bot', GBP_HTTP_TOKEN: 's3cret-token' };

describe('pull from a Jenkins artifact URL', () => {
  it('downloads and stores the build with Basic auth from the environment', async () => {
    const store = tempDir();
    const r = await gbp(['--store', store, '--json', 'pull', `${base}/job/web/42/artifact/build.tar.gz`, '-m', 'web', '-b', '42', '--publish'], { env: creds });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().archive.source).toBe(`${base}/job/web/42/artifact/build.tar.gz`);
    expect(clientReads(store, 'machines/web/binpkgs', 'http://localhost:8080').entries).toHaveLength(5);
  });

  it('explains a refusal of credentials (exit 7) and changes nothing', async () => {
    const store = tempDir();
    const r = await gbp(['--store', store, 'pull', `${base}/job/web/42/artifact/build.tar.gz`, '-m', 'web', '-b', '42'], { env: { GBP_HTTP_USER: 'ci-bot', GBP_HTTP_TOKEN: 'wrong' } });
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/HTTP 401: the server refused our credentials \(set GBP_HTTP_USER and GBP_HTTP_TOKEN\)/);
    expect(r.stderr).not.toContain('wrong');
    expect(snapshot(store)).toEqual({});
  });

  it('retries transient failures with back-off', async () => {
    flaky = 2;
    const store = tempDir();
    const r = await gbp(['--store', store, '--json', 'pull', `${base}/flaky/build.tar.gz`, '-m', 'web', '-b', '7'], { env: creds });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.match(/HTTP 503 Service Unavailable; retrying in/g)).toHaveLength(2);
  });

  it('gives up after the configured retries (exit 7), and never retries a 404', async () => {
    flaky = 10;
    const r = await gbp(['--store', tempDir(), 'pull', `${base}/flaky/build.tar.gz`, '-m', 'web', '-b', '8'], { env: { ...creds, GBP_HTTP_RETRIES: '1' } });
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/cannot download the archive after 2 attempts: HTTP 503/);
    const missing = await gbp(['--store', tempDir(), 'pull', `${base}/job/web/43/artifact/build.tar.gz`, '-m', 'web', '-b', '43'], { env: creds });
    expect(missing.stderr).not.toMatch(/retrying/);
  });

  it('explains a missing artifact (exit 7)', async () => {
    const r = await gbp(['--store', tempDir(), 'pull', `${base}/job/web/43/artifact/build.tar.gz`, '-m', 'web', '-b', '43'], { env: creds });
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/HTTP 404: no archive at this URL/);
  });
});
