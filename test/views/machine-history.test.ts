/**
 * A machine with many builds: its page shows the newest builds and charts of a bounded size, and
 * every build stays reachable on history pages of a fixed size that a new build or a publish
 * rewrites only where they changed.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { check, purge } from '../../src/commands/maintain.js';
import { publish } from '../../src/commands/publish.js';
import { pull } from '../../src/commands/pull.js';
import { FsStore } from '../../src/store/fs-store.js';
import { loadSite, type SiteSettings } from '../../src/store/site.js';
import { fixture } from '../helpers/fixtures.js';

const BUILD1 = fixture('build-archive/build.tar.gz');
const BUILD2 = fixture('build-archive/build2.tar.gz');
const BUILDS = 130;

let dir: string;
let store: FsStore;
let site: SiteSettings;
const file = (key: string) => join(dir, 'store', key);
const rowsOf = (html: string) => [...html.matchAll(/<tr>\s*<td><a href="[^"]*builds\/web\/(\d+)\/index.html">/g)].map((m) => m[1]);
const barsOf = (html: string) => (html.match(/<rect /g) ?? []).length;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gbp-history-'));
  store = new FsStore(join(dir, 'store'));
  site = await loadSite(store, 'https://bin.example.org');
  for (let i = 1; i <= BUILDS; i++) await pull(store, site, { source: i % 2 ? BUILD1 : BUILD2, machine: 'web', id: String(i), publish: i === BUILDS });
}, 240_000);

describe('a machine with many builds', () => {
  it('its page lists the newest 50, charts the newest 100, and links every build by history page', () => {
    const html = readFileSync(file('machines/web/index.html'), 'utf8');
    const rows = rowsOf(html);
    expect(rows).toEqual(Array.from({ length: 50 }, (_, i) => String(BUILDS - i)));
    expect(html).toMatch(/<dt>Builds<\/dt><dd>130<\/dd>/);
    expect(html).toMatch(/The newest 50 of 130 builds/);
    expect(barsOf(html)).toBe(2 * 100); // two charts, a bar per charted build
    expect(html).toContain('href="history/1.html">1–100</a>');
    expect(html).toContain('href="history/2.html">101–130</a>');
    const page1 = readFileSync(file('machines/web/history/1.html'), 'utf8');
    expect(rowsOf(page1)).toEqual(Array.from({ length: 100 }, (_, i) => String(100 - i)));
    expect(page1).toContain('rel="next" href="2.html"');
    const page2 = readFileSync(file('machines/web/history/2.html'), 'utf8');
    expect(rowsOf(page2)[0]).toBe('130');
    expect(page2).toMatch(/published/);
  });

  it('a publish rewrites the history pages of the two builds it moves between, no other', async () => {
    await pull(store, site, { source: BUILD1, machine: 'web', id: String(BUILDS + 1) }); // settles the last page
    const before = { p1: statSync(file('machines/web/history/1.html')).mtimeMs, p2: readFileSync(file('machines/web/history/2.html'), 'utf8') };
    await new Promise((r) => setTimeout(r, 20));
    await publish(store, site, 'web', '131');
    expect(statSync(file('machines/web/history/1.html')).mtimeMs).toBe(before.p1);
    const after = readFileSync(file('machines/web/history/2.html'), 'utf8');
    expect(after).not.toBe(before.p2);
    expect(after.match(/mark published/g)).toHaveLength(1);
  });

  it('fsck finds a missing history page, --repair renders it; a purge removes pages past the end', async () => {
    rmSync(file('machines/web/history/1.html'));
    const report = await check(store, site, {});
    expect(report.problems.map((p) => `${p.key}: ${p.problem}`)).toEqual(['machines/web/history/1.html: page missing']);
    await check(store, site, { repair: true });
    expect(existsSync(file('machines/web/history/1.html'))).toBe(true);

    await purge(store, site, ['web'], { keepLast: 40 });
    const html = readFileSync(file('machines/web/index.html'), 'utf8');
    expect(rowsOf(html)).toHaveLength(40);
    expect(html).not.toContain('history/');
    expect(existsSync(file('machines/web/history/1.html'))).toBe(false);
    expect(existsSync(file('machines/web/history/2.html'))).toBe(false);
  });
});
