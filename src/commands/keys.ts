/**
 * `gbp keys`: the signing keys a site trusts, and what a pull does with packages they do not
 * vouch for. Keys live in the store (`keys/`), so every publisher sees the same set and clients
 * fetch them from the site.
 */
import { readFileSync } from 'node:fs';
import { GbpError } from '../errors.js';
import { assertName } from '../records/names.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/store.js';
import type { KeyInfo } from '../trust/gpg.js';
import { DEFAULT_RULES, readPolicy, rulesFor, setPolicy, type Action, type Rules } from '../trust/policy.js';
import { addTrustedKeys, listTrustedKeys, removeTrustedKey } from '../trust/trusted-keys.js';

export async function addKeys(store: Store, file: string): Promise<{ added: KeyInfo[]; present: KeyInfo[] }> {
  let data: Buffer;
  try {
    data = file === '-' ? readFileSync(0) : readFileSync(file);
  } catch (err) {
    throw new GbpError('input', file, `cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return addTrustedKeys(store, data);
}

export async function listKeys(store: Store): Promise<KeyInfo[]> {
  return (await listTrustedKeys(store)).map(({ key: _, ...info }) => info);
}

export const removeKey = (store: Store, fingerprint: string) => removeTrustedKey(store, fingerprint);

export interface PolicyView {
  /** Whether pulls check signatures: only while keys/trusted.asc, what they check against, exists. */
  checking: boolean;
  site: Rules;
  machines: Record<string, Rules>;
}

export async function trustPolicy(store: Store, machine: string | null, change: Partial<Record<keyof Rules, Action | 'inherit'>>): Promise<PolicyView> {
  if (machine) assertName('machine name', machine);
  if (!machine && Object.values(change).includes('inherit')) throw new GbpError('usage', 'inherit', 'only a machine inherits (from the site): give --machine');
  const policy = Object.values(change).some((v) => v !== undefined) ? await setPolicy(store, machine, change) : await readPolicy(store);
  const machines = Object.fromEntries(Object.keys(policy.machines).sort().map((m) => [m, rulesFor(policy, m)]));
  return { checking: await store.exists(keys.trustedKeyBundle()), site: { ...DEFAULT_RULES, ...policy.site }, machines };
}
