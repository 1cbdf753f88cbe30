/**
 * Delivers one event to the hooks that asked for it: a JSON POST signed like GitHub's webhooks
 * (X-Gbp-Signature-256: sha256=<HMAC-SHA256 of the body>), so receivers reuse the code they have.
 * Runs after the command's work is done and never fails it: each hook gets a bounded number of
 * attempts, each bounded in time, all hooks at once; what did not arrive is reported, not thrown.
 */
import { createHmac, randomUUID } from 'node:crypto';
import type { Hook, HookEvent } from './hook-config.js';
import { shownUrl } from './hook-config.js';

export interface DeliveryOptions {
  /** One attempt's limit (connect, send, answer). */
  timeoutMs?: number;
  attempts?: number;
  /** The first retry's delay; doubled for each next one. */
  backoffMs?: number;
  userAgent?: string;
  /** However many hooks and messages, the whole delivery's bound: no attempt starts after it. */
  budgetMs?: number;
}

export interface Delivery {
  hook: string;
  url: string;
  event: HookEvent | 'ping';
  delivery: string;
  ok: boolean;
  /** The receiver's last HTTP status (null: no answer). */
  status: number | null;
  attempts: number;
  error?: string;
  ms: number;
}

export const DEFAULTS: Required<DeliveryOptions> = { timeoutMs: 5000, attempts: 3, backoffMs: 500, userAgent: 'gentoo-build-publisher', budgetMs: 20_000 };
/** `performance.now()` after which no attempt starts. */
type Options = Required<DeliveryOptions> & { deadline: number };

export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** An answer worth asking again for: the receiver is busy or broken for now. A 4xx is its verdict. */
const retryable = (status: number) => status >= 500 || status === 429 || status === 408;

export interface Message {
  event: HookEvent | 'ping';
  payload: object;
}

/**
 * Each hook gets the messages it asked for in order (a receiver sees `pulled` before `published`);
 * hooks are served side by side, so a dead one costs its bound once, not once per hook.
 */
export async function deliverAll(hooks: Hook[], messages: Message[], o: DeliveryOptions = {}): Promise<Delivery[]> {
  // an option left undefined (not set in the environment) keeps its default
  const given = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  const merged = { ...DEFAULTS, ...given };
  const opts: Options = { ...merged, deadline: performance.now() + merged.budgetMs };
  const perHook = await Promise.all(
    hooks.map(async (h) => {
      const done: Delivery[] = [];
      for (const m of messages) if (m.event === 'ping' || h.events.includes(m.event)) done.push(await deliverOne(h, m.event, m.payload, opts));
      return done;
    }),
  );
  return perHook.flat();
}

async function deliverOne(hook: Hook, event: HookEvent | 'ping', payload: object, o: Options): Promise<Delivery> {
  const delivery = randomUUID();
  const body = JSON.stringify({ ...payload, event, delivery });
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': o.userAgent,
    'x-gbp-event': event,
    'x-gbp-delivery': delivery,
  };
  if (hook.secret) headers['x-gbp-signature-256'] = signBody(hook.secret, body);
  const started = performance.now();
  const result: Delivery = { hook: hook.id, url: shownUrl(hook.url), event, delivery, ok: false, status: null, attempts: 0, ms: 0 };
  for (let attempt = 1; attempt <= o.attempts; attempt++) {
    if (performance.now() >= o.deadline) {
      result.error = `${result.error ? `${result.error}; ` : ''}not sent: the delivery time budget was spent`;
      break;
    }
    result.attempts = attempt;
    try {
      const limit = Math.max(1, Math.min(o.timeoutMs, o.deadline - performance.now()));
      const res = await fetch(hook.url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(limit) });
      await res.body?.cancel();
      result.status = res.status;
      if (res.status >= 200 && res.status < 300) {
        result.ok = true;
        delete result.error;
        break;
      }
      result.error = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
      if (!retryable(res.status)) break;
    } catch (err) {
      result.status = null;
      const e = err as Error & { cause?: Error };
      result.error = e.name === 'TimeoutError' ? `no answer in ${(Math.min(o.timeoutMs, o.deadline - started) / 1000).toFixed(1)} s` : (e.cause?.message ?? e.message);
    }
    if (attempt < o.attempts) await new Promise((r) => setTimeout(r, Math.min(o.backoffMs * 2 ** (attempt - 1), Math.max(0, o.deadline - performance.now()))));
  }
  result.ms = Math.round(performance.now() - started);
  return result;
}
