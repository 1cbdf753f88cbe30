import { describe, expect, it } from 'vitest';
import { canonicalMemberName, resolveLinkTarget, sectionOf, treeOf } from '../../src/archive/member-path.js';
import { isSafeName } from '../../src/records/names.js';

describe('canonical member names', () => {
  it.each([
    ['./etc-portage/make.conf', 'etc-portage/make.conf'],
    ['repos/gentoo/', 'repos/gentoo'],
    ['./', ''],
    ['binpkgs//app-misc/x', 'binpkgs/app-misc/x'],
    ['repos/./gentoo/a', 'repos/gentoo/a'],
  ])('%s is %s', (raw, name) => {
    expect(canonicalMemberName(raw)).toEqual({ name });
  });

  it.each([
    ['/etc/passwd', 'absolute path'],
    ['repos/../../etc/passwd', "'..'"],
    ['..', "'..'"],
    ['repos/gentoo/a\0b', 'NUL'],
    ['repos\\..\\x', 'backslash'],
  ])('refuses %j (%s)', (raw, reason) => {
    const r = canonicalMemberName(raw);
    expect('reason' in r && r.reason).toContain(reason);
  });
});

describe('symlink targets', () => {
  it.each([
    ['etc-portage/make.profile', '../repos/gentoo/profiles/default/linux/amd64/23.0', 'repos/gentoo/profiles/default/linux/amd64/23.0'],
    ['repos/gentoo/a/b', '../c', 'repos/gentoo/c'],
    ['repos/gentoo/x', 'y', 'repos/gentoo/y'],
  ])('%s -> %s stays inside', (link, target, resolved) => {
    expect(resolveLinkTarget(link, target)).toBe(resolved);
  });

  it.each([
    ['etc-portage/make.profile', '/var/db/repos/gentoo/profiles/default'],
    ['etc-portage/make.profile', '../../var/db/repos/gentoo/profiles'],
    ['repos/gentoo/x', '../../../../etc/shadow'],
    ['repos/gentoo/x', ''],
  ])('%s -> %s leaves the archive', (link, target) => {
    expect(resolveLinkTarget(link, target)).toBeNull();
  });
});

describe('sections and trees', () => {
  it('knows the four sections and aux', () => {
    expect(sectionOf('binpkgs/Packages')).toBe('binpkgs');
    expect(sectionOf('aux/plugin/x')).toBe('aux');
    expect(sectionOf('usr/bin/evil')).toBeNull();
  });
  it('puts each repository in its own tree', () => {
    expect(treeOf('repos/gentoo/app-misc/hello/hello-1.ebuild')).toEqual({ tree: 'repos/gentoo', path: 'app-misc/hello/hello-1.ebuild' });
    expect(treeOf('etc-portage/make.conf')).toEqual({ tree: 'etc-portage', path: 'make.conf' });
    expect(treeOf('etc-portage')).toEqual({ tree: 'etc-portage', path: '.' });
    expect(treeOf('repos/gbp.json')).toBeNull();
  });
  it('accepts boring machine names and build ids only', () => {
    expect(isSafeName('database')).toBe(true);
    expect(isSafeName('web-01.example')).toBe(true);
    expect(isSafeName('42')).toBe(true);
    for (const bad of ['', '.', '..', 'a/b', '-x', 'a..b', 'x y', 'é']) expect(isSafeName(bad)).toBe(false);
  });
});
