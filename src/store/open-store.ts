/**
 * Turns a `--store` value into a Store: a directory path (the embedded default) or
 * `s3://<bucket>/<prefix>` (settings from flags, then GBP_S3_* and the standard AWS environment).
 */
import { resolve } from 'node:path';
import { GbpError } from '../errors.js';
import { FsStore } from './fs-store.js';
import type { S3Settings } from './s3-config.js';
import type { Store } from './store.js';
import { keys } from './keys.js';

export const DEFAULT_STORE_DIR = 'gbp-store';

export async function openStore(spec: string | undefined, s3: S3Settings = {}): Promise<Store> {
  const value = spec || process.env.GBP_STORE || DEFAULT_STORE_DIR;
  if (value.startsWith('s3://')) {
    // Loaded only for a bucket: merely loading the AWS SDK halves gbp serve's throughput
    // (measured: 2,970 → 1,520 requests/s), and most commands run on a directory.
    const { createS3Client, parseS3Url, s3SettingsFromEnv } = await import('./s3-config.js');
    const { S3Store } = await import('./s3-store.js');
    const { bucket, prefix } = parseS3Url(value);
    const settings = { ...s3SettingsFromEnv(), ...definedOnly(s3) };
    // GBP_S3_CONDITIONAL=lease skips the probe and serialises writers with the lease lock: for a
    // server that accepts conditional headers but does not honour them (the probe catches most).
    const conditional = process.env.GBP_S3_CONDITIONAL === 'lease' ? ({ kind: 'lease' } as const) : undefined;
    return new S3Store({ client: createS3Client(settings), bucket, prefix, maxInFlight: settings.maxInFlight, conditional });
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    throw new GbpError('usage', value, 'a store is a directory path or s3://<bucket>/<prefix>');
  }
  return new FsStore(resolve(value));
}

function definedOnly(s: S3Settings): S3Settings {
  return Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined)) as S3Settings;
}

/**
 * A store that must already exist (every command but pull, and sync's destination): a typo in
 * --store must not be a clean, empty store that fsck calls healthy or serve serves.
 */
export async function openExistingStore(spec: string | undefined, s3: S3Settings = {}): Promise<Store> {
  const store = await openStore(spec, s3);
  if (!(await store.exists(keys.site()))) {
    throw new GbpError('not-found', store.location, "no store here (it has no site.json); check --store or GBP_STORE ('gbp pull' creates a store)");
  }
  return store;
}
