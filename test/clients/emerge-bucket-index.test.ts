/**
 * Real Portage 3.0.82 reading a binhost from a bucket (the test RGW), as through a CDN: its second
 * run must get 304 for the index and keep its cached copy, even when the publish's upload of that
 * index reached the bucket late (throttling, a congested link). Portage sends its cached index's
 * TIMESTAMP as If-Modified-Since, so a Last-Modified past it made every run download the index.
 */
import { describe, expect, it } from 'vitest';
import { gbp } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';
import { PortageClient } from '../helpers/portage.js';
import { newPublicBucket, rgwEnv } from '../helpers/s3.js';
import { startS3Proxy } from '../helpers/s3-proxy.js';

const BUILD1 = fixture('build-archive/build.tar.gz');
const VIEW_INDEX = '/machines/web/binpkgs/Packages.gz';

describe('emerge --getbinpkgonly from a bucket (real Portage)', () => {
  it('a second run keeps its cached index (304), though the publish uploaded it 6.5 s late', async () => {
    const bucket = await newPublicBucket();
    const env = rgwEnv();
    let viewPuts = 0;
    const indexAnswers: number[] = [];
    // one pass-through for gbp's uploads and the client's reads, so both are seen
    const proxy = await startS3Proxy(env.AWS_ENDPOINT_URL, {
      hold: (method, path) => (method === 'PUT' && path.split('?')[0].endsWith(VIEW_INDEX) && ++viewPuts === 1 ? 6_500 : 0),
      onRequest: (method, path, status) => method === 'GET' && path.split('?')[0].endsWith(VIEW_INDEX) && indexAnswers.push(status),
    });
    try {
      const base = `${proxy.url}/${bucket}/bh`;
      const store = ['--store', `s3://${bucket}/bh`, '--base-url', base];
      const published = await gbp([...store, 'pull', BUILD1, '-m', 'web', '-b', '1', '--publish'], { env: { ...env, AWS_ENDPOINT_URL: proxy.url } });
      expect(published.code, published.stderr).toBe(0);
      const binrepos = await (await fetch(`${base}/machines/web/binrepos.conf`)).text();
      expect(binrepos).toContain(`sync-uri = ${base}/machines/web/binpkgs`);

      const client = await PortageClient.create();
      for (let run = 1; run <= 2; run++) {
        const r = await client.emerge(['--getbinpkgonly', '--oneshot', '--pretend', 'app-misc/hello'], { binrepos });
        expect(r.code, r.output).toBe(0);
        expect(r.output).toMatch(/app-misc\/hello-1\.0/);
      }
      expect(indexAnswers, 'the index: fetched, then not modified').toEqual([200, 304]);
    } finally {
      await proxy.close();
    }
  }, 180_000);
});
