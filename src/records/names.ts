/**
 * Machine names, build ids and tags become path segments of store keys and URLs, and rsync module
 * paths: keep them boring. One rule for every command, checked before anything is read.
 */
import { GbpError } from '../errors.js';

export const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

export function isSafeName(s: string): boolean {
  return SAFE_NAME.test(s) && !s.includes('..');
}

export function assertName(kind: string, value: string): void {
  if (!isSafeName(value)) {
    throw new GbpError('usage', value, `invalid ${kind}: use letters, digits, '.', '_', '+' and '-' (start with a letter or digit, at most 128)`);
  }
}
