/**
 * The browsable site in a real browser: headless Chromium (Debian's, driven by playwright-core)
 * opens the pages gbp serve answers with, checks what a person looks for, that no markup from a
 * note or an archive runs, that the console stays clean, and writes screenshots to
 * test-artifacts/. A link checker then walks every page and link of the generated site.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gbp, tempDir } from '../helpers/cli.js';
import { startServe } from '../helpers/serve.js';
import { fixture } from '../helpers/fixtures.js';
import { archiveMembers, tgz } from '../helpers/fixture-archive.js';

const ARTIFACTS = resolve(__dirname, '../../test-artifacts');
const BUILD1 = fixture('build-archive/build.tar.gz');
const BUILD2 = fixture('build-archive/build2.tar.gz');
const HOSTILE_NOTE = 'rolled back: <script>alert("note")</script> <b>bold?</b>';

let store: string;
let server: ChildProcess;
let base: string;
let browser: Browser;

/** Opens a page and fails on any console error, page error, dialog (a script that ran) or failed request. */
async function open(path: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const problems: string[] = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => {
    problems.push(`a dialog opened: ${d.message()}`);
    void d.dismiss();
  });
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
  page.on('response', (r) => r.status() >= 400 && problems.push(`${r.status()} ${r.url()}`));
  const res = await page.goto(`${base}/${path}`);
  expect(res?.status(), path).toBe(200);
  await page.waitForLoadState('load');
  (page as Page & { problems: string[] }).problems = problems;
  return page;
}

const problemsOf = (p: Page) => (p as Page & { problems: string[] }).problems;

async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, name), fullPage: true });
}

beforeAll(async () => {
  store = tempDir();
  // a configuration file carrying markup, as an archive could
  const members = await archiveMembers(BUILD2);
  const hostile = members.map((m) => (m.path.endsWith('etc-portage/make.conf') ? { ...m, data: Buffer.concat([m.data as Buffer, Buffer.from('# <img src=x onerror=alert(1)> </pre><script>alert(2)</script>\n')]) } : m));
  const build2 = join(tempDir(), 'build2.tar.gz');
  writeFileSync(build2, tgz(hostile));
  const steps: string[][] = [
    ['pull', BUILD1, '-m', 'web', '-b', '1', '--publish'],
    ['pull', build2, '-m', 'web', '-b', '2', '--publish', '--tag', 'stable'],
    ['pull', BUILD1, '-m', 'mail', '-b', '7'],
    ['note', 'web', '1', HOSTILE_NOTE],
    ['keep', 'web', '1'],
  ];
  for (const s of steps) {
    const r = await gbp(['--store', store, ...s]);
    expect(r.code, `${s.join(' ')}: ${r.stderr}`).toBe(0);
  }
  const served = await startServe(store);
  server = served.child;
  base = served.url;
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

afterAll(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
});

describe('the pages in Chromium', () => {
  it('front page: every machine, its published and latest build, health and storage', async () => {
    const page = await open('index.html');
    const rows = page.locator('#machines tbody tr');
    expect(await rows.count()).toBe(2);
    const mail = await rows.filter({ hasText: 'mail' }).innerText();
    expect(mail).toMatch(/nothing published/);
    const web = await rows.filter({ hasText: 'web' }).innerText();
    expect(web).toMatch(/\b2\b/);
    expect(web).toMatch(/ok/);
    expect(await page.locator('#storage').innerText()).toMatch(/Saved by storing each package once\s+[\d.]+ (KiB|MiB) \(\d+ %\)/);
    // what needs attention, and why
    expect(await page.locator('#attention li').allInnerTexts()).toEqual(['mail: nothing published']);
    // builds per day: labelled axes, today's three builds in the last bar
    const chart = page.locator('svg.chart').first();
    const today = new Date().toISOString().slice(5, 10);
    expect(await chart.locator('text.x').allTextContents()).toContain(today);
    expect(await chart.locator('text.y').allTextContents()).toEqual(['0', '2', '3']);
    expect(await chart.locator('text.title').allTextContents()).toEqual(['day (UTC), the last 30', 'builds']);
    expect(await chart.locator('rect').count()).toBe(30);
    expect(await chart.locator('rect').last().locator('title').textContent()).toBe(`${new Date().toISOString().slice(0, 10)}: 3`);
    // recent builds across machines, newest first, with their marks and notes
    const recent = await page.locator('#recent tbody tr').allInnerTexts();
    expect(recent.map((r) => r.split('\t').slice(0, 2).join(' '))).toEqual(['mail 7', 'web 2', 'web 1']);
    expect(recent[1]).toMatch(/published/);
    expect(recent[1]).toMatch(/@stable/);
    expect(recent[2]).toMatch(/kept/);
    expect(await page.locator('#recent-packages li').allInnerTexts()).toContain('added app-misc/motd 1.0 in web 2');
    // times: absolute, with a relative hint the script adds
    const stamp = page.locator('#recent time.rel').first();
    expect(await stamp.innerText()).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d \((just now|\d+ min ago)\)$/);
    await screenshot(page, 'front.png');
    expect(problemsOf(page)).toEqual([]);
  });

  it('machine page: builds newest first with their markers, and charts', async () => {
    const page = await open('machines/web/index.html');
    const rows = await page.locator('#builds tbody tr').allInnerTexts();
    expect(rows.map((r) => r.split('\t')[0].trim())).toEqual(['2', '1']);
    expect(rows[0]).toMatch(/published/);
    expect(rows[0]).toMatch(/@stable/);
    expect(rows[1]).toMatch(/kept/);
    expect(await page.locator('svg.chart').count()).toBe(2);
    expect(await page.locator('svg.chart').first().locator('rect').count()).toBe(2);
    await screenshot(page, 'machine.png');
    expect(problemsOf(page)).toEqual([]);
  });

  it('build page: packages with what changed, world, etc-portage, repositories; filtering works', async () => {
    const page = await open('builds/web/2/index.html');
    expect(await page.locator('#packages tbody tr').count()).toBe(6);
    expect(await page.locator('#changes').innerText()).toMatch(/1 added/);
    const libfoo = await page.locator('#packages tbody tr', { hasText: 'dev-libs/libfoo' }).allInnerTexts();
    expect(libfoo.join('\n')).toMatch(/upgraded|rebuilt|added/);
    expect(await page.locator('#world').innerText()).toMatch(/app-misc\/hello/);
    expect(await page.locator('#repos tbody tr').count()).toBe(1);
    expect(await page.locator('#compiled').innerText()).toMatch(/^\d+ packages?, .* from the first to the last\)$/);
    await page.fill('#filter', 'libfoo');
    expect(await page.locator('#packages tbody tr:not([hidden])').count()).toBeLessThan(6);
    await page.fill('#filter', '');
    // a package link downloads the package itself
    const href = await page.locator('#packages tbody tr a').first().getAttribute('href');
    const res = await page.request.get(new URL(href!, `${base}/builds/web/2/index.html`).toString());
    expect(res.status()).toBe(200);
    expect(res.headers()['content-type']).toMatch(/application\/x-tar/);
    await screenshot(page, 'build.png');
    expect(problemsOf(page)).toEqual([]);
  });

  it('markup in a note or in an archive is shown as text and never runs', async () => {
    const build1 = await open('builds/web/1/index.html');
    expect(await build1.locator('#note').innerText()).toBe(HOSTILE_NOTE);
    expect(await build1.locator('#note b, #note script').count()).toBe(0);
    const build2 = await open('builds/web/2/index.html');
    const makeConf = build2.locator('details', { has: build2.locator('summary', { hasText: 'make.conf' }) }).first();
    await makeConf.locator('summary').first().click();
    expect(await makeConf.locator('pre.diff .diff-add').allInnerTexts()).toContain('+# <img src=x onerror=alert(1)> </pre><script>alert(2)</script>');
    expect(await build2.locator('main img').count()).toBe(0);
    expect(problemsOf(build1)).toEqual([]); // no dialog opened, nothing failed
    expect(problemsOf(build2)).toEqual([]);
  });

  it('build page: a changed /etc/portage file as a diff, a repository\'s changed files listed', async () => {
    const page = await open('builds/web/2/index.html');
    const makeConf = page.locator('details', { has: page.locator('summary', { hasText: 'make.conf' }) }).first();
    expect(await makeConf.locator('summary').first().innerText()).toMatch(/make\.conf changed/);
    const lines = await makeConf.locator('pre.diff > span').allTextContents();
    expect(lines[0]).toMatch(/^@@ -\d+,\d+ \+\d+,\d+ @@$/);
    expect(lines.filter((l) => l.startsWith('+'))).toEqual(['+# <img src=x onerror=alert(1)> </pre><script>alert(2)</script>']);
    expect(lines.filter((l) => l.startsWith('-'))).toEqual([]);
    const repo = page.locator('details.repo-changes');
    expect(await repo.locator('summary').innerText()).toMatch(/^test_repo: \d+ files? changed since build 1$/);
    const listed = await repo.locator('li').allTextContents();
    expect(listed.length).toBe(Number(/(\d+) files? changed/.exec(await repo.locator('summary').innerText())![1]));
    expect(listed.every((l) => /^[+−~] \S/.test(l))).toBe(true);
    expect(problemsOf(page)).toEqual([]);
  });

  it("a package's page: every build in which it changed, and how, newest first", async () => {
    const build2 = await open('builds/web/2/index.html');
    await build2.locator('#packages tbody tr', { hasText: 'dev-libs/libfoo' }).first().locator('a.history').click();
    await build2.waitForLoadState('load');
    expect(new URL(build2.url()).pathname).toBe('/machines/web/packages/dev-libs/libfoo.html');
    expect(await build2.locator('h1').innerText()).toBe('dev-libs/libfoo on web');
    const rows = await build2.locator('#package-log tbody tr').allInnerTexts();
    const cells = rows.map((r) => r.split('\t').map((c) => c.trim()));
    // the same as gbp log, newest first
    const log = (await gbp(['--store', store, '--json', 'log', 'web', 'dev-libs/libfoo'])).json().reverse();
    expect(cells.map((c) => [c[0], c[2].split(' ')[0]])).toEqual(log.map((e: { build: string; change: string }) => [e.build, e.change]));
    expect(cells.at(-1)![2]).toMatch(/^added\b/);
    expect(cells.at(-1)![4]).toMatch(/^dev-libs\/libfoo-2\.1\.3 \(\d\)$/);
    // a package of mail only has mail's page
    const res = await build2.request.get(`${base}/machines/mail/packages/dev-libs/libfoo.html`);
    expect(res.status()).toBe(200);
    expect((await build2.request.get(`${base}/machines/web/packages/app-misc/no-such.html`)).status()).toBe(404);
    await screenshot(build2, 'package.png');
    expect(problemsOf(build2)).toEqual([]);
  });

  it('without script, every page is complete: absolute times, no hint', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(`${base}/machines/web/index.html`);
    const stamps = await page.locator('#builds time.rel').allInnerTexts();
    expect(stamps.length).toBe(2);
    for (const t of stamps) expect(t).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d$/);
    await context.close();
  });

  it('is readable on a phone', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
    await page.goto(`${base}/builds/web/2/index.html`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await screenshot(page, 'build-phone.png');
    // the builds table and the front page fit too: no sideways scrolling
    for (const [path, table] of [['machines/web/index.html', '#builds'], ['index.html', '#recent'], ['index.html', '#machines']]) {
      await page.goto(`${base}/${path}`);
      const fits = await page.evaluate((sel) => {
        const t = document.querySelector(sel)!;
        return { table: t.scrollWidth - t.parentElement!.clientWidth, page: document.documentElement.scrollWidth - window.innerWidth };
      }, table);
      expect(fits, path).toEqual({ table: expect.any(Number), page: expect.any(Number) });
      expect(fits.table, `${path} ${table}`).toBeLessThanOrEqual(0);
      expect(fits.page, path).toBeLessThanOrEqual(0);
      await screenshot(page, `${path.replace(/\//g, '-').replace('.html', '')}-phone.png`);
    }
  });
});

describe('the whole site', () => {
  it('every link of every page resolves (link checker)', async () => {
    const seen = new Set<string>();
    const queue = [`${base}/index.html`];
    const broken: string[] = [];
    while (queue.length) {
      const url = queue.shift()!;
      if (seen.has(url)) continue;
      seen.add(url);
      const res = await fetch(url, { method: url.endsWith('.html') ? 'GET' : 'HEAD' });
      if (res.status !== 200) {
        broken.push(`${res.status} ${url}`);
        continue;
      }
      if (!url.endsWith('.html')) continue;
      const html = await res.text();
      for (const m of html.matchAll(/(?:href|src)="([^"]+)"/g)) {
        const target = new URL(m[1].replace(/&amp;/g, '&'), url);
        if (target.protocol === 'data:') continue; // inline, nothing to fetch
        expect(target.origin, `${m[1]} on ${url} leaves the site`).toBe(new URL(base).origin);
        target.hash = '';
        queue.push(target.toString());
      }
    }
    expect(broken).toEqual([]);
    expect(seen.size).toBeGreaterThan(15); // pages, indexes, configs and packages were all reached
  });

  it('a note re-renders that build page only; the other build pages are not rewritten', async () => {
    const page2 = join(store, 'builds/web/2/index.html');
    const before = { text: readFileSync(page2, 'utf8'), mtime: statSync(page2).mtimeMs };
    const r = await gbp(['--store', store, 'note', 'web', '1', 'a new note']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(store, 'builds/web/1/index.html'), 'utf8')).toContain('a new note');
    expect(statSync(page2).mtimeMs).toBe(before.mtime);
    expect(readFileSync(page2, 'utf8')).toBe(before.text);
    expect(readFileSync(join(store, 'machines/web/index.html'), 'utf8')).toContain('a new note');
  });

  it("after the parent is purged, its child's page stops linking to it", async () => {
    for (const args of [['keep', 'web', '1', '--release'], ['purge', 'web', '--keep-last', '1']]) {
      const r = await gbp(['--store', store, ...args]);
      expect(r.code, r.stderr).toBe(0);
    }
    const html = readFileSync(join(store, 'builds/web/2/index.html'), 'utf8');
    expect(html).toMatch(/1 <span class="muted">\(purged\)<\/span>/);
    expect(html).not.toContain('href="../1/index.html"');
    expect(readFileSync(join(store, 'machines/web/index.html'), 'utf8')).not.toContain('builds/web/1/');
    // package pages follow: build 1 is gone from them
    const libfoo = readFileSync(join(store, 'machines/web/packages/dev-libs/libfoo.html'), 'utf8');
    expect(libfoo).not.toContain('builds/web/1/');
    expect(libfoo).toContain('builds/web/2/');
    // a package build 2 removed keeps its page, with only that removal left on it
    const tools = readFileSync(join(store, 'machines/web/packages/app-misc/tools.html'), 'utf8');
    expect(tools).toContain('<span class="change-removed">removed</span>');
    expect(tools).not.toContain('<span class="change-added">added</span>');
  });

  it('fsck finds a missing page (exit 8) and --repair renders it again', async () => {
    const { rmSync } = await import('node:fs');
    const page = join(store, 'builds/web/2/index.html');
    // the machine's feed is written only when its hash in pages.json changes: a lost one too
    const feed = join(store, 'machines/web/feed.xml');
    const before = readFileSync(page, 'utf8');
    const feedBefore = readFileSync(feed, 'utf8');
    rmSync(page);
    rmSync(feed);
    const check = await gbp(['--store', store, 'fsck', '--quick']);
    expect(check.code).toBe(8);
    expect(check.stdout).toMatch(/builds\/web\/2\/index.html: page missing/);
    expect(check.stdout).toMatch(/machines\/web\/feed.xml: page missing/);
    expect((await gbp(['--store', store, 'fsck', '--quick', '--repair'])).code).toBe(0);
    expect(readFileSync(page, 'utf8')).toBe(before);
    expect(readFileSync(feed, 'utf8')).toBe(feedBefore);
  });
});
