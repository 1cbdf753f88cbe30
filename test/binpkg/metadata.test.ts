/**
 * Our reading of real Portage-written packages must match what Portage itself indexed: every
 * GPKG (zstd, xz, bzip2, gzip; signed and unsigned) and the XPAK in ../shared/fixtures.
 */
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePackages, writePackages } from '../../src/binpkg/packages-index.js';
import { formatFromName, readBinpkgMetadata, stanzaFromMetadata } from '../../src/binpkg/metadata.js';
import { expected, fixture } from '../helpers/fixtures.js';

const onDisk = expected.binpkgs.filter((b) => !b.path.includes('!'));

describe('binary package metadata', () => {
  it.each(onDisk.map((b) => [b.path, b]))('%s reads as Portage indexed it', async (_path, b) => {
    const meta = await readBinpkgMetadata(fixture(b.path), formatFromName(b.path)!);
    expect(meta.format).toBe(b.format);
    expect(meta.signed).toBe(b.signed);
    for (const [k, v] of Object.entries(b.metadata)) expect(meta.values[k], k).toBe(v);

    const stanza = stanzaFromMetadata(meta, { size: b.size, md5: b.md5, sha1: b.sha1 });
    expect(stanza.CHOST).toBe('i686-pc-linux-gnu');
    // What a client reads: our entry written under Portage's header, parsed by Portage's rules.
    const header = { VERSION: '0', CHOST: 'i686-pc-linux-gnu' };
    const [ours] = parsePackages(writePackages({ header, entries: [{ ...stanza, PATH: b.index_entry.PATH, MTIME: b.index_entry.MTIME }] })).entries;
    // REPO_REVISIONS is what `emerge` injects into its last entry; Portage's regenerated index lacks it too.
    const { REPO_REVISIONS: _r, ...portage } = b.index_entry;
    expect(ours).toEqual(portage);
  });

  it('refuses a GPKG whose Manifest does not list a member', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gbp-meta-'));
    const b = onDisk.find((x) => x.format === 'gpkg' && !x.signed)!;
    const bytes = readFileSync(fixture(b.path));
    const text = bytes.toString('latin1');
    const at = text.indexOf('DATA image.tar');
    const broken = Buffer.from(bytes);
    broken.write('DATA imagX.tar', at, 'latin1'); // Manifest body only: the tar headers stay valid
    const path = join(dir, 'broken.gpkg.tar');
    writeFileSync(path, broken);
    await expect(readBinpkgMetadata(path, 'gpkg')).rejects.toThrow(/Manifest does not list 'image\.tar/);
  });

  it('refuses a truncated package', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gbp-meta-'));
    const b = onDisk.find((x) => x.format === 'gpkg')!;
    const path = join(dir, 'cut.gpkg.tar');
    writeFileSync(path, readFileSync(fixture(b.path)).subarray(0, 3000));
    await expect(readBinpkgMetadata(path, 'gpkg')).rejects.toThrow(/truncated/);
    const x = onDisk.find((y) => y.format === 'xpak')!;
    const xpath = join(dir, 'cut.xpak');
    writeFileSync(xpath, readFileSync(fixture(x.path)).subarray(0, 2000));
    await expect(readBinpkgMetadata(xpath, 'xpak')).rejects.toThrow(/STOP|XPAK/);
  });

  it('refuses a file that is no package at all', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gbp-meta-'));
    const path = join(dir, 'junk.gpkg.tar');
    writeFileSync(path, Buffer.alloc(20480, 0x41));
    await expect(readBinpkgMetadata(path, 'gpkg')).rejects.toThrow(/checksum/);
    copyFileSync(path, join(dir, 'junk.xpak'));
    await expect(readBinpkgMetadata(join(dir, 'junk.xpak'), 'xpak')).rejects.toThrow(/STOP/);
  });
});
