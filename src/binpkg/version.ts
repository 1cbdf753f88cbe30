/**
 * Portage versions: splitting a CPV into package name and version, and comparing versions by the
 * algorithm of the Package Manager Specification (§3.3): numeric components (leading zeros
 * compare as strings), an optional letter, suffixes (_alpha < _beta < _pre < _rc < none < _p, each
 * with an optional number), then the revision.
 */
const VERSION = /^(\d+)((?:\.\d+)*)([a-z]?)((?:_(?:alpha|beta|pre|rc|p)\d*)*)(?:-r(\d+))?$/;
const SUFFIX_ORDER: Record<string, number> = { alpha: 0, beta: 1, pre: 2, rc: 3, p: 5 };
const NO_SUFFIX = 4;

export interface Cpv {
  category: string;
  pn: string;
  version: string;
}

/** `dev-libs/libfoo-2.1.3-r1` → { category, pn: 'libfoo', version: '2.1.3-r1' }; null if not a CPV. */
export function parseCpv(cpv: string): Cpv | null {
  const slash = cpv.indexOf('/');
  if (slash <= 0) return null;
  const category = cpv.slice(0, slash);
  const pf = cpv.slice(slash + 1);
  // the version starts after the last '-' whose remainder is a version (a revision is part of it)
  for (let i = pf.lastIndexOf('-'); i > 0; i = pf.lastIndexOf('-', i - 1)) {
    const version = pf.slice(i + 1);
    if (VERSION.test(version)) return { category, pn: pf.slice(0, i), version };
  }
  return null;
}

export function compareVersions(a: string, b: string): number {
  const x = VERSION.exec(a);
  const y = VERSION.exec(b);
  if (!x || !y) return a < b ? -1 : a > b ? 1 : 0; // not versions: a stable order at least
  let c = cmp(BigInt(x[1]), BigInt(y[1]));
  if (c) return c;
  const xs = x[2] ? x[2].slice(1).split('.') : [];
  const ys = y[2] ? y[2].slice(1).split('.') : [];
  for (let i = 0; i < Math.min(xs.length, ys.length); i++) {
    if (xs[i].startsWith('0') || ys[i].startsWith('0')) {
      c = cmp(xs[i].replace(/0+$/, ''), ys[i].replace(/0+$/, ''));
    } else c = cmp(BigInt(xs[i]), BigInt(ys[i]));
    if (c) return c;
  }
  c = cmp(xs.length, ys.length);
  if (c) return c;
  c = cmp(x[3] || '', y[3] || '');
  if (c) return c;
  const sx = suffixes(x[4]);
  const sy = suffixes(y[4]);
  for (let i = 0; i < Math.max(sx.length, sy.length); i++) {
    const p = sx[i] ?? [NO_SUFFIX, 0n];
    const q = sy[i] ?? [NO_SUFFIX, 0n];
    c = cmp(p[0], q[0]) || cmp(p[1], q[1]);
    if (c) return c;
  }
  return cmp(BigInt(x[5] ?? 0), BigInt(y[5] ?? 0));
}

function suffixes(s: string): [number, bigint][] {
  if (!s) return [];
  return s
    .slice(1)
    .split('_')
    .map((part) => {
      const m = /^(alpha|beta|pre|rc|p)(\d*)$/.exec(part)!;
      return [SUFFIX_ORDER[m[1]], BigInt(m[2] || 0)];
    });
}

function cmp<T extends number | bigint | string>(a: T, b: T): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
