/**
 * The webhooks a publisher calls (`gbp hooks add|list|remove`), kept in a file of the publisher's
 * own, never in the store: a store is served to the world (the bucket behind the CDN, the
 * directory behind nginx), and a hook holds a secret and often a URL that is one (Slack's, Matrix's).
 * The file is GBP_HOOKS_FILE, else $XDG_CONFIG_HOME/gbp/hooks.json (~/.config/gbp/hooks.json);
 * a Jenkins agent without state gives it as a secret-file credential.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { GbpError } from '../errors.js';
import { sha256Hex } from '../util/sha256.js';

export const HOOK_EVENTS = ['pulled', 'published', 'tagged', 'deleted'] as const;
export type HookEvent = (typeof HOOK_EVENTS)[number];

export interface Hook {
  /** Short and stable: derived from the URL, so `gbp hooks remove` can name it. */
  id: string;
  url: string;
  events: HookEvent[];
  /** The HMAC-SHA256 key the body is signed with (X-Gbp-Signature-256); none: unsigned. */
  secret?: string;
  added: number;
}

interface HookFile {
  format: 1;
  hooks: Hook[];
}

/** A hook file holds a handful of hooks; a larger one is not ours. */
const MAX_HOOKS = 100;
const MAX_FILE_BYTES = 1 << 20;

export function hooksFilePath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GBP_HOOKS_FILE) return env.GBP_HOOKS_FILE;
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'gbp', 'hooks.json');
}

export const hookId = (url: string) => sha256Hex(url).slice(0, 8);

/** The hooks in `file`; none when it does not exist. A damaged file is an error, never ignored. */
export function readHooks(file: string): Hook[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new GbpError('store', file, `cannot read the hooks file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (text.length > MAX_FILE_BYTES) throw new GbpError('store', file, `is larger than ${MAX_FILE_BYTES} bytes: not a gbp hooks file`);
  let parsed: HookFile;
  try {
    parsed = JSON.parse(text) as HookFile;
  } catch {
    throw new GbpError('store', file, 'is not valid JSON (not a gbp hooks file, or damaged)');
  }
  if (parsed?.format !== 1 || !Array.isArray(parsed.hooks)) throw new GbpError('store', file, 'is not a gbp hooks file (format 1)');
  for (const h of parsed.hooks) {
    if (typeof h?.url !== 'string' || !Array.isArray(h.events) || h.events.some((e) => !HOOK_EVENTS.includes(e))) {
      throw new GbpError('store', file, `holds a hook gbp cannot read: ${JSON.stringify(h).slice(0, 120)}`);
    }
  }
  return parsed.hooks;
}

/** Writes the file whole (mode 0600: it holds secrets), by rename so a reader never sees half of it. */
export function writeHooks(file: string, hooks: Hook[]): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ format: 1, hooks } satisfies HookFile, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

export function parseHookUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new GbpError('usage', 'hooks add', `'${url}' is not an absolute URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new GbpError('usage', 'hooks add', `'${url}' must be an http:// or https:// URL`);
  return u.toString();
}

export function parseEvents(list: string | undefined): HookEvent[] {
  if (!list) return [...HOOK_EVENTS];
  const events = [...new Set(list.split(',').map((e) => e.trim()).filter(Boolean))];
  const unknown = events.filter((e) => !HOOK_EVENTS.includes(e as HookEvent));
  if (unknown.length || !events.length) throw new GbpError('usage', '--events', `unknown event ${unknown.join(', ') || '(none)'}: choose from ${HOOK_EVENTS.join(', ')}`);
  return events as HookEvent[];
}

/** Adds or replaces the hook for `url` (same URL, same id: adding again updates events and secret). */
export function addHook(file: string, hook: Omit<Hook, 'id' | 'added'>, now = Math.floor(Date.now() / 1000)): { hook: Hook; replaced: boolean } {
  const hooks = readHooks(file);
  const id = hookId(hook.url);
  const replaced = hooks.some((h) => h.id === id);
  if (!replaced && hooks.length >= MAX_HOOKS) throw new GbpError('usage', 'hooks add', `a publisher calls at most ${MAX_HOOKS} hooks`);
  const entry: Hook = { id, url: hook.url, events: hook.events, ...(hook.secret ? { secret: hook.secret } : {}), added: now };
  writeHooks(file, [...hooks.filter((h) => h.id !== id), entry]);
  return { hook: entry, replaced };
}

/** Removes a hook by its id or its URL. */
export function removeHook(file: string, idOrUrl: string): Hook {
  const hooks = readHooks(file);
  const found = hooks.find((h) => h.id === idOrUrl || h.url === idOrUrl);
  if (!found) throw new GbpError('not-found', idOrUrl, `no such hook in ${file} (gbp hooks list shows them)`);
  writeHooks(file, hooks.filter((h) => h !== found));
  return found;
}

/** How a hook is shown: its URL without credentials, query or any path past the first segment (they often hold the secret). */
export function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    const first = u.pathname.split('/').filter(Boolean)[0];
    const more = u.pathname.split('/').filter(Boolean).length > 1 || u.search;
    return `${u.protocol}//${u.host}/${first ?? ''}${more ? '/…' : ''}`;
  } catch {
    return '(not a URL)';
  }
}
