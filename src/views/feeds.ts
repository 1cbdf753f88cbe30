/**
 * Atom feeds beside the pages (RFC 4287): machines/<m>/feed.xml, one entry per build, published or
 * not, and feed.xml for the site, the newest builds of every machine. Static files like the pages,
 * so a feed reader or a chat bot follows the fleet from the CDN without a server.
 */
import type { SiteSettings } from '../store/site.js';

/** Entries per feed: a reader polls often, and the pages hold the rest. */
export const FEED_ENTRIES = 50;

export interface FeedBuild {
  machine: string;
  id: string;
  created: number;
  packages: number;
  changed: number;
  parent: string | null;
  published: boolean;
  tags: string[];
  note: string | null;
}

const escape = (s: string) => s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
const iso = (t: number) => new Date(t * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

export function atomFeed(site: SiteSettings, o: { title: string; path: string; page: string; builds: FeedBuild[] }): string {
  const builds = [...o.builds].sort((a, b) => b.created - a.created || (a.id < b.id ? 1 : -1)).slice(0, FEED_ENTRIES);
  const updated = builds[0]?.created ?? 0;
  const entries = builds.map((b) => {
    const url = `${site.baseUrl}/builds/${b.machine}/${b.id}/`;
    const marks = [b.published ? 'published' : '', ...b.tags.map((t) => `@${t}`)].filter(Boolean).join(' ');
    const summary = `${b.packages} packages${b.parent ? `, ${b.changed} changed since build ${b.parent}` : ''}${b.note ? `. Note: ${b.note}` : ''}`;
    return [
      '<entry>',
      `<id>${escape(url)}</id>`,
      `<title>${escape(`${b.machine} build ${b.id}${marks ? ` (${marks})` : ''}`)}</title>`,
      `<updated>${iso(b.created)}</updated>`,
      `<link rel="alternate" type="text/html" href="${escape(url)}"/>`,
      `<summary>${escape(summary)}</summary>`,
      '</entry>',
    ].join('\n');
  });
  return [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<feed xmlns="http://www.w3.org/2005/Atom">',
    `<id>${escape(`${site.baseUrl}/${o.path}`)}</id>`,
    `<title>${escape(o.title)}</title>`,
    `<updated>${iso(updated)}</updated>`,
    `<link rel="self" type="application/atom+xml" href="${escape(`${site.baseUrl}/${o.path}`)}"/>`,
    `<link rel="alternate" type="text/html" href="${escape(`${site.baseUrl}/${o.page}`)}"/>`,
    '<author><name>Gentoo Build Publisher</name></author>',
    '<generator>Gentoo Build Publisher</generator>',
    ...entries,
    '</feed>',
    '',
  ].join('\n');
}
