/**
 * The real S3 server of the tests: the throw-away Ceph RGW that scripts/rgw.sh starts (scripts/test.sh
 * starts it before the suite and stops it after). Each test gets its own bucket. If the server is
 * not running, tests fail with the reason; they never skip.
 */
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createS3Client } from '../../src/store/s3-config.js';
import { S3Store, type S3StoreOptions } from '../../src/store/s3-store.js';

const ENV_FILE = process.env.GBP_TEST_RGW_ENV || '/tmp/gbp-rgw/env';

/** AWS_* variables of the running test server, as the CLI would get them from the environment. */
export function rgwEnv(): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(ENV_FILE, 'utf8');
  } catch {
    throw new Error(`no test S3 server: ${ENV_FILE} is missing; start one with: scripts/rgw.sh start`);
  }
  const env: Record<string, string> = {};
  for (const m of text.matchAll(/^export (\w+)=(.*)$/gm)) env[m[1]] = m[2];
  return env;
}

let client: S3Client | null = null;
export function rgwClient(): S3Client {
  if (client) return client;
  const env = rgwEnv();
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY });
  client = createS3Client({ endpoint: env.AWS_ENDPOINT_URL, region: 'us-east-1' });
  return client;
}

export async function newBucket(): Promise<string> {
  const bucket = `gbp-test-${randomBytes(5).toString('hex')}`;
  await rgwClient().send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

export async function newS3Store(options: Partial<S3StoreOptions> = {}): Promise<S3Store> {
  return new S3Store({ client: rgwClient(), bucket: await newBucket(), prefix: 'store/', ...options });
}

/**
 * A bucket anyone may read, as a CDN origin is: clients fetch from it over plain HTTP. Listing is
 * allowed too, so a missing key is a 404, not a 403 (a 403 makes Portage drop the repository).
 */
export async function newPublicBucket(): Promise<string> {
  const { PutBucketPolicyCommand } = await import('@aws-sdk/client-s3');
  const bucket = await newBucket();
  const policy = {
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Principal: '*', Action: ['s3:GetObject'], Resource: [`arn:aws:s3:::${bucket}/*`] },
      { Effect: 'Allow', Principal: '*', Action: ['s3:ListBucket'], Resource: [`arn:aws:s3:::${bucket}`] },
    ],
  };
  await rgwClient().send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(policy) }));
  return bucket;
}

/** Every key in a bucket (the store's private ones too), with its ETag: to prove nothing changed. */
export async function bucketSnapshot(bucket: string): Promise<Record<string, string>> {
  const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');
  const out: Record<string, string> = {};
  let token: string | undefined;
  do {
    const r = await rgwClient().send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const o of r.Contents ?? []) out[o.Key!] = o.ETag!;
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return out;
}
