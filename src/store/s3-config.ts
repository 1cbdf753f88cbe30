/**
 * Where a bucket store is and how to talk to it: `s3://<bucket>/<prefix>` plus the standard AWS
 * environment (credentials, profile, region) and the settings ../shared/spec/s3-compat.md found to
 * work on every server tested: path-style addressing for custom endpoints, checksums only when
 * required (recent SDKs' aws-chunked uploads get 411 from RGW and 501 from Swift).
 */
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { GbpError } from '../errors.js';

export interface S3Location {
  bucket: string;
  /** Key prefix inside the bucket, empty or ending in '/'. */
  prefix: string;
}

export interface S3Settings {
  endpoint?: string;
  region?: string;
  /** Path-style URLs (`endpoint/bucket/key`); defaults to true when an endpoint is given. */
  pathStyle?: boolean;
  /** Requests in flight at most (the adaptive limit starts here). */
  maxInFlight?: number;
}

export function parseS3Url(url: string): S3Location {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (!m) throw new GbpError('usage', url, 'expected s3://<bucket>[/<prefix>] with a valid bucket name');
  const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (prefix.split('/').some((p) => p === '..' || p === '.')) throw new GbpError('usage', url, 'the prefix may not contain . or .. segments');
  return { bucket: m[1], prefix: prefix ? `${prefix}/` : '' };
}

/** Settings from the environment: GBP_S3_* first, then the AWS SDK's own variables. */
export function s3SettingsFromEnv(env: NodeJS.ProcessEnv = process.env): S3Settings {
  const pathStyle = env.GBP_S3_PATH_STYLE;
  return {
    endpoint: env.GBP_S3_ENDPOINT || env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined,
    region: env.GBP_S3_REGION || env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined,
    pathStyle: pathStyle === undefined ? undefined : !/^(0|false|no)$/i.test(pathStyle),
    maxInFlight: env.GBP_S3_MAX_IN_FLIGHT ? Number(env.GBP_S3_MAX_IN_FLIGHT) : undefined,
  };
}

export function createS3Client(settings: S3Settings): S3Client {
  // Node 20 is Debian's and ours; the SDK's notice about its future releases is not the user's concern.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const sockets = Math.max(settings.maxInFlight ?? 32, 8) + 8;
  return new S3Client({
    endpoint: settings.endpoint,
    region: settings.region ?? 'us-east-1',
    forcePathStyle: settings.pathStyle ?? !!settings.endpoint,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // The SDK's adaptive mode: retries with jittered exponential back-off, and a client-side rate
    // limiter that slows down on throttling answers (503 SlowDown, 429) and speeds up after successes.
    retryMode: 'adaptive',
    maxAttempts: 8,
    requestHandler: new NodeHttpHandler({
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets: sockets }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: sockets }),
      connectionTimeout: 10_000,
      // A server that stops answering (a full cluster blocks writes) is an error, not a hang.
      requestTimeout: 120_000,
      throwOnRequestTimeout: true,
    }),
  });
}
