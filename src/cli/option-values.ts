/**
 * Parsers for option values. Each refuses what it cannot read exactly, with the option's name
 * (a usage error, exit 2), so a typo never becomes 0 or NaN: `--keep-last abc` once planned as
 * if given 0 and purged builds.
 */
import { GbpError } from '../errors.js';

/** A whole number in [min, max]. */
export const integer = (option: string, min: number, max = Number.MAX_SAFE_INTEGER) => (value: string): number => {
  const text = value.trim();
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new GbpError('usage', option, `'${value}' is not a whole number from ${min} to ${max === Number.MAX_SAFE_INTEGER ? 'any' : max}`);
  }
  return Number(text);
};

/** A duration: a number of seconds, or with s, m, h, d. */
export const duration = (option: string) => (value: string): number => {
  const m = /^(\d{1,9})\s*(s|m|h|d)?$/.exec(value.trim());
  if (!m) throw new GbpError('usage', option, `'${value}' is not a duration (e.g. 90s, 30m, 1h, 2d)`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's'];
};

/** A size in bytes, with an optional K, M, G or T (powers of 1024). */
export const size = (option: string) => (value: string): number => {
  const m = /^(\d{1,15}(?:\.\d+)?)\s*([KMGT]i?B?|B)?$/i.exec(value.trim());
  if (!m) throw new GbpError('usage', option, `'${value}' is not a size (e.g. 20G, 512M, 1048576)`);
  const unit = (m[2] ?? 'B').toUpperCase()[0];
  const factor = { B: 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 }[unit] ?? 1;
  const bytes = Math.floor(Number(m[1]) * factor);
  if (bytes < 1) throw new GbpError('usage', option, `'${value}' is not a size above zero`);
  return bytes;
};
