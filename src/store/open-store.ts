/** Turns a `--store` value into a Store: a directory path (the embedded default). */
import { resolve } from 'node:path';
import { GbpError } from '../errors.js';
import { FsStore } from './fs-store.js';
import type { Store } from './store.js';

export const DEFAULT_STORE_DIR = 'gbp-store';

export function openStore(spec: string | undefined): Store {
  const value = spec || process.env.GBP_STORE || DEFAULT_STORE_DIR;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    throw new GbpError('usage', value, 'only local directory stores are supported by this version');
  }
  return new FsStore(resolve(value));
}
