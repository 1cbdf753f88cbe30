/**
 * What a blob's directory holds, in one listing: `meta.json` says the blob is stored; a package
 * file alone is one a writer that died uploaded without recording it (complete, never half).
 */
import { keys } from './keys.js';
import type { Store } from './store.js';

export async function blobDirNames(store: Store, sha256: string): Promise<Set<string>> {
  const dir = keys.blobDir(sha256);
  const names = new Set<string>();
  for await (const key of store.list(dir)) names.add(key.slice(dir.length));
  return names;
}
