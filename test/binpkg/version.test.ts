import { describe, expect, it } from 'vitest';
import { compareVersions, parseCpv } from '../../src/binpkg/version.js';

describe('Portage version order (PMS §3.3)', () => {
  it.each([
    ['1.0', '1.0.1'],
    ['1.0', '1.1'],
    ['1.9', '1.10'],
    ['1.01', '1.1'],
    ['1.0a', '1.0b'],
    ['1.0', '1.0a'],
    ['1.0_alpha', '1.0_beta'],
    ['1.0_beta2', '1.0_beta10'],
    ['1.0_rc1', '1.0'],
    ['1.0', '1.0_p1'],
    ['1.0_pre1', '1.0_rc'],
    ['1.0_alpha_p1', '1.0_alpha_p2'],
    ['1.0_alpha', '1.0_alpha_p1'],
    ['1.0_rc1_pre', '1.0_rc1'],
    ['1.0', '1.0-r1'],
    ['1.0-r9', '1.0-r10'],
    ['2.1.3', '2.1.3-r1'],
    ['999999999999999999999', '1000000000000000000000'],
  ])('%s < %s', (a, b) => {
    expect(compareVersions(a, b)).toBe(-1);
    expect(compareVersions(b, a)).toBe(1);
  });

  it.each([
    ['1.0', '1.0'],
    ['1.01', '1.010'],
    ['1.0-r0', '1.0'],
    ['1_p0', '1_p'],
  ])('%s == %s', (a, b) => {
    expect(compareVersions(a, b)).toBe(0);
  });

  it('splits CPVs into name and version', () => {
    expect(parseCpv('dev-libs/libfoo-2.1.3')).toEqual({ category: 'dev-libs', pn: 'libfoo', version: '2.1.3' });
    expect(parseCpv('sys-kernel/gentoo-sources-6.6.30-r1')).toEqual({ category: 'sys-kernel', pn: 'gentoo-sources', version: '6.6.30-r1' });
    expect(parseCpv('dev-lang/python-3.12.3_p1')).toEqual({ category: 'dev-lang', pn: 'python', version: '3.12.3_p1' });
    expect(parseCpv('x11-libs/gtk+-3.24.41')).toEqual({ category: 'x11-libs', pn: 'gtk+', version: '3.24.41' });
    expect(parseCpv('app-misc/foo-1-bar-2.0')).toEqual({ category: 'app-misc', pn: 'foo-1-bar', version: '2.0' });
    expect(parseCpv('nonsense')).toBeNull();
  });
});
