/**
 * What a pull does with a package whose signature it cannot vouch for, per site and per machine
 * (`trust.json`). A bad signature (wrong bytes, an expired or revoked key, a member without its
 * signature) is always refused: a client that verifies would refuse it mid-upgrade. With no
 * trusted key there is nothing to check against, and packages are taken as they come.
 */
import { GbpError } from '../errors.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/store.js';

export type Action = 'refuse' | 'allow';

export interface Rules {
  /** An unsigned package (an XPAK, or a GPKG built without binpkg-signing). */
  unsigned: Action;
  /** A package signed by a key the site does not trust. */
  unknownKey: Action;
}

export interface TrustPolicy {
  format: 1;
  site: Partial<Rules>;
  machines: Record<string, Partial<Rules>>;
}

/** With trusted keys configured, a build must be signed by them unless told otherwise. */
export const DEFAULT_RULES: Rules = { unsigned: 'refuse', unknownKey: 'refuse' };

export async function readPolicy(store: Store): Promise<TrustPolicy> {
  const raw = await store.get(keys.trustPolicy());
  if (!raw) return { format: 1, site: {}, machines: {} };
  try {
    const p = JSON.parse(raw.toString('utf8')) as TrustPolicy;
    if (p.format !== 1 || typeof p.site !== 'object' || typeof p.machines !== 'object') throw new Error('shape');
    return p;
  } catch {
    throw new GbpError('store', keys.trustPolicy(), 'is not a gbp trust policy (damaged, or written by another version)');
  }
}

export function rulesFor(policy: TrustPolicy, machine: string): Rules {
  return { ...DEFAULT_RULES, ...policy.site, ...policy.machines[machine] };
}

/** Sets rules for the site (machine null) or one machine; `inherit` drops a machine's own rule. */
export async function setPolicy(store: Store, machine: string | null, change: Partial<Record<keyof Rules, Action | 'inherit'>>): Promise<TrustPolicy> {
  const policy = await readPolicy(store);
  const target = machine ? (policy.machines[machine] ??= {}) : policy.site;
  for (const [k, v] of Object.entries(change) as [keyof Rules, Action | 'inherit' | undefined][]) {
    if (v === undefined) continue;
    if (v === 'inherit') delete target[k];
    else target[k] = v;
  }
  if (machine && !Object.keys(policy.machines[machine]).length) delete policy.machines[machine];
  await store.put(keys.trustPolicy(), `${JSON.stringify(policy, null, 1)}\n`, { contentType: 'application/json' });
  return policy;
}
