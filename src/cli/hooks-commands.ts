/**
 * `gbp hooks add|list|remove|test`, and how the other commands report what their hooks got:
 * a delivery that failed is a warning (and `hooks` in --json), never a failed command.
 */
import { readFileSync } from 'node:fs';
import { GbpError } from '../errors.js';
import { announce, pingHooks, type Announcement } from '../commands/announce.js';
import type { Delivery, DeliveryOptions } from '../notify/deliver.js';
import { addHook, HOOK_EVENTS, hooksFilePath, parseEvents, parseHookUrl, readHooks, removeHook, shownUrl } from '../notify/hook-config.js';
import type { SiteSettings } from '../store/site.js';
import type { Store } from '../store/store.js';
import { when, table } from '../util/format.js';
import { globals, globalSite, openGlobalStore, print, printJson, program } from './context.js';

/** The delivery's limits from the environment (slow receivers, tests); unset ones keep their defaults. */
function deliveryOptions(): DeliveryOptions {
  const n = (name: string) => (process.env[name] ? Number(process.env[name]) : undefined);
  return { timeoutMs: n('GBP_HOOK_TIMEOUT_MS'), attempts: n('GBP_HOOK_ATTEMPTS'), backoffMs: n('GBP_HOOK_BACKOFF_MS'), budgetMs: n('GBP_HOOK_BUDGET_MS') };
}

/** Tells the hooks what a command did; never throws for a receiver or a hooks file it cannot read. */
export async function notifyHooks(store: Store, site: SiteSettings, list: Announcement[]): Promise<Delivery[]> {
  try {
    return await announce(store, site, list, deliveryOptions());
  } catch (err) {
    // the command's work is done and stays done: a broken hooks file is said, not fatal
    process.stderr.write(`gbp: warning: no webhook was called: ${err instanceof GbpError ? err.message : String(err)}\n`);
    return [];
  }
}

/** Text output: a line per delivery; a failed one is also a warning on standard error. */
export function reportDeliveries(deliveries: Delivery[]): void {
  for (const d of deliveries) {
    if (d.ok) print(`  hook      ${d.event} → ${d.url} (HTTP ${d.status}${d.attempts > 1 ? `, attempt ${d.attempts}` : ''})`);
    else process.stderr.write(`gbp: warning: webhook ${d.hook} (${d.url}) did not take '${d.event}': ${d.error} (${d.attempts} attempt${d.attempts === 1 ? '' : 's'})\n`);
  }
}

function readSecret(given: string | undefined): string | undefined {
  if (given === undefined) return undefined;
  // `--secret -`: from standard input, so the secret is not in the process list or shell history
  const secret = given === '-' ? readFileSync(0, 'utf8').replace(/\r?\n$/, '') : given;
  if (secret.length < 16) throw new GbpError('usage', '--secret', 'use at least 16 characters (e.g. openssl rand -hex 32)');
  return secret;
}

/** Registered after the commands whose events they carry, so `gbp --help` lists them there. */
export function registerHooksCommands(): void {
  const hooks = program
    .command('hooks')
    .description('webhooks gbp calls when a build is pulled, published, tagged or deleted')
    .addHelpText(
      'after',
      `
  Each event is a JSON POST (README "Webhooks" has the body), signed when the hook has a
  secret: X-Gbp-Signature-256: sha256=<HMAC-SHA256 of the body>, as GitHub signs its own.
  A receiver that does not answer 2xx is tried 3 times in all, 5 s each, and a command waits
  20 s at most for all its hooks (GBP_HOOK_TIMEOUT_MS, GBP_HOOK_ATTEMPTS, GBP_HOOK_BUDGET_MS);
  a failed delivery is a warning, never a failed publish.

  Hooks are kept in ${'$'}GBP_HOOKS_FILE, else ~/.config/gbp/hooks.json (mode 0600), not in the
  store: the store is public, and a hook's secret (or its URL) is not.

  Example:
    openssl rand -hex 32 | gbp hooks add https://chat.example.org/hooks/gbp --events published,deleted --secret -`,
    );

  hooks
    .command('add')
    .description('call URL on events (adding a URL again replaces its events and secret)')
    .argument('<url>')
    .option('--events <list>', `comma-separated, from ${HOOK_EVENTS.join(', ')} (default: all)`)
    .option('--secret <secret>', 'sign each body with this key (HMAC-SHA256); - reads it from standard input')
    .action((url: string, o: { events?: string; secret?: string }) => {
      const file = hooksFilePath();
      const r = addHook(file, { url: parseHookUrl(url), events: parseEvents(o.events), secret: readSecret(o.secret) });
      if (globals().json) return printJson({ file, replaced: r.replaced, hook: { ...r.hook, secret: !!r.hook.secret } });
      print(`${r.replaced ? 'updated' : 'added'} hook ${r.hook.id}: ${shownUrl(r.hook.url)} on ${r.hook.events.join(', ')}${r.hook.secret ? ', signed' : ', unsigned'} (${file})`);
    });

  hooks
    .command('list')
    .description('the hooks this publisher calls')
    .action(() => {
      const file = hooksFilePath();
      const list = readHooks(file);
      if (globals().json) return printJson(list.map((h) => ({ ...h, url: shownUrl(h.url), secret: !!h.secret })));
      if (!list.length) return print(`no hooks in ${file}`);
      print(table(['ID', 'URL', 'EVENTS', 'SIGNED', 'ADDED'], list.map((h) => [h.id, shownUrl(h.url), h.events.join(','), h.secret ? 'yes' : 'no', when(h.added)])));
    });

  hooks
    .command('remove')
    .description('stop calling a hook (its id from gbp hooks list, or its URL)')
    .argument('<id|url>')
    .action((which: string) => {
      const h = removeHook(hooksFilePath(), which);
      if (globals().json) return printJson({ removed: h.id, url: shownUrl(h.url) });
      print(`removed hook ${h.id}: ${shownUrl(h.url)}`);
    });

  hooks
    .command('test')
    .description("send a 'ping' event to every hook (or one) and say what each answered; exit 7 if one did not take it")
    .argument('[id]')
    .action(async (id?: string) => {
      const g = globals();
      const all = readHooks(hooksFilePath());
      const chosen = id ? all.filter((h) => h.id === id || h.url === id) : all;
      if (id && !chosen.length) throw new GbpError('not-found', id, 'no such hook (gbp hooks list shows them)');
      if (!chosen.length) throw new GbpError('not-found', 'hooks test', `no hooks in ${hooksFilePath()}`);
      const store = await openGlobalStore(g).catch(() => null);
      const site = store ? await globalSite(store, g) : { baseUrl: g.baseUrl ?? process.env.GBP_BASE_URL ?? '', format: 1 };
      const r = await pingHooks(chosen, site, deliveryOptions());
      if (g.json) printJson(r);
      else for (const d of r) print(`${d.ok ? 'ok  ' : 'FAIL'} ${d.hook} ${d.url}: ${d.ok ? `HTTP ${d.status}` : d.error} in ${d.ms} ms`);
      if (r.some((d) => !d.ok)) throw new GbpError('input', 'hooks test', `${r.filter((d) => !d.ok).length} hooks did not take the ping`, true);
    });
}
