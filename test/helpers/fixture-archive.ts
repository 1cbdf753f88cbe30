/** The members of a real Portage-written build archive, in order with their bytes, to rebuild variants of it. */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { TarReader } from '../../src/archive/tar-reader.js';
import { tarArchive, type Member, type MemberType } from './tar-builder.js';
import { fixture } from './fixtures.js';

const TYPE: Record<string, MemberType> = { file: 'File', directory: 'Directory', symlink: 'SymbolicLink', hardlink: 'Link' };

export async function archiveMembers(path: string): Promise<Member[]> {
  return tarMembers(gunzipSync(readFileSync(path)));
}

/** The members of a plain tar in memory (a GPKG is one), in order with their bytes. */
export async function tarMembers(tar: Buffer): Promise<Member[]> {
  const out: Member[] = [];
  let chunks: Buffer[] = [];
  const reader = new TarReader({
    entry: (e) => {
      chunks = [];
      out.push({ path: e.name, type: TYPE[e.type], linkpath: e.linkname || undefined, mode: e.mode, mtime: e.mtime });
    },
    data: (c) => void chunks.push(Buffer.from(c)),
    entryEnd: () => {
      out[out.length - 1].data = Buffer.concat(chunks);
    },
  });
  await reader.write(tar);
  reader.end();
  return out;
}

export const tgz = (members: Member[]) => gzipSync(tarArchive(members));

/**
 * `archive` with one package's bytes changed by `change`, and its index entry made to match
 * (MD5, SHA1, SIZE), as a compromised builder would: only what the package itself says can tell.
 */
export async function archiveWithPackage(archive: string, member: string, change: (pkg: Buffer) => Buffer): Promise<string> {
  const members = await archiveMembers(archive);
  const pkg = members.find((m) => m.path === member)!;
  const before = Buffer.from(pkg.data as Buffer);
  const after = change(Buffer.from(before));
  pkg.data = after;
  const index = members.find((m) => m.path === 'binpkgs/Packages')!;
  const digest = (alg: string, b: Buffer) => createHash(alg).update(b).digest('hex');
  index.data = String(index.data)
    .replace(digest('md5', before), digest('md5', after))
    .replace(digest('sha1', before), digest('sha1', after))
    .replace(new RegExp(`^SIZE: ${before.length}$`, 'm'), `SIZE: ${after.length}`);
  const out = join(mkdtempSync(join(tmpdir(), 'gbp-test-')), 'changed.tar.gz');
  writeFileSync(out, tgz(members));
  return out;
}

/** The build archive with its packages replaced by Portage's unsigned variants (GPKG without signing, and an XPAK). */
export async function unsignedVariantsArchive(): Promise<string> {
  const dir = fixture('pkgdir-unsigned-variants');
  const members: Member[] = (await archiveMembers(fixture('build-archive/build.tar.gz'))).filter((m) => !m.path.startsWith('binpkgs/'));
  const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));
  for (const f of walk(dir).filter((f) => !f.endsWith('Packages.gz'))) members.push({ path: `binpkgs/${relative(dir, f)}`, data: readFileSync(f) });
  const out = join(mkdtempSync(join(tmpdir(), 'gbp-test-')), 'unsigned.tar.gz');
  writeFileSync(out, tgz(members));
  return out;
}
