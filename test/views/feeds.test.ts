/**
 * Atom feeds beside the pages, read back by a real XML parser (Python's xml.etree): one per
 * machine and one for the site, newest build first, marks and notes in the entries (escaped),
 * linked from the pages with <link rel="alternate">.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gbp, tempDir } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';

interface Feed {
  title: string;
  updated: string;
  links: Record<string, string>;
  entries: { id: string; title: string; updated: string; link: string; summary: string }[];
}

/** The feed as an Atom reader sees it (a parse error fails the test). */
function parseAtom(path: string): Feed {
  const script = `
import json, sys, xml.etree.ElementTree as ET
A = '{http://www.w3.org/2005/Atom}'
f = ET.parse(sys.argv[1]).getroot()
assert f.tag == A + 'feed'
print(json.dumps({
  'title': f.find(A + 'title').text, 'updated': f.find(A + 'updated').text,
  'links': {l.get('rel'): l.get('href') for l in f.findall(A + 'link')},
  'entries': [{'id': e.find(A + 'id').text, 'title': e.find(A + 'title').text, 'updated': e.find(A + 'updated').text,
               'link': e.find(A + 'link').get('href'), 'summary': e.find(A + 'summary').text} for e in f.findall(A + 'entry')]}))`;
  return JSON.parse(execFileSync('python3', ['-c', script, path], { encoding: 'utf8' }));
}

describe('Atom feeds', () => {
  it('one per machine and one for the site, newest first, with marks and notes, linked from the pages', async () => {
    const store = tempDir();
    const base = 'https://binhost.example.org';
    for (const [m, archive, id, extra] of [
      ['web', 'build.tar.gz', '1', ['--tag', 'stable']],
      ['web', 'build2.tar.gz', '2', ['--publish', '--note', 'kernel <6.6> & friends']],
      ['db', 'build.tar.gz', '1', ['--publish']],
    ] as const) {
      const r = await gbp(['--store', store, '--base-url', base, 'pull', fixture('build-archive', archive), '-m', m, '-b', id, ...extra]);
      expect(r.code, r.stderr).toBe(0);
    }
    const web = parseAtom(join(store, 'machines/web/feed.xml'));
    expect(web.title).toBe('web: builds');
    expect(web.links).toEqual({ self: `${base}/machines/web/feed.xml`, alternate: `${base}/machines/web/` });
    expect(web.entries.map((e) => e.title)).toEqual(['web build 2 (published)', 'web build 1 (@stable)']);
    expect(web.entries[0]).toMatchObject({ id: `${base}/builds/web/2/`, link: `${base}/builds/web/2/`, summary: expect.stringMatching(/^6 packages, \d+ changed since build 1\. Note: kernel <6\.6> & friends$/) });
    expect(web.updated).toBe(web.entries[0].updated);
    expect(Date.parse(web.entries[0].updated)).toBeGreaterThan(Date.now() - 600_000);

    const site = parseAtom(join(store, 'feed.xml'));
    expect(site.entries.map((e) => e.title).sort()).toEqual(['db build 1 (published)', 'web build 1 (@stable)', 'web build 2 (published)']);
    expect(readFileSync(join(store, 'machines/web/index.html'), 'utf8')).toContain('<link rel="alternate" type="application/atom+xml" href="feed.xml" title="web: builds">');
    expect(readFileSync(join(store, 'index.html'), 'utf8')).toContain('<link rel="alternate" type="application/atom+xml" href="feed.xml"');

    // a rollback is in the feed at once
    expect((await gbp(['--store', store, 'publish', 'web', '1'])).code).toBe(0);
    expect(parseAtom(join(store, 'machines/web/feed.xml')).entries.map((e) => e.title)).toEqual(['web build 2', 'web build 1 (published @stable)']);
  });
});
