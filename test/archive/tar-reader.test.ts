import { describe, expect, it } from 'vitest';
import { GbpError } from '../../src/errors.js';
import { TarReader, type TarEntry } from '../../src/archive/tar-reader.js';
import { tarArchive, tarMember } from '../helpers/tar-builder.js';

async function read(tar: Buffer, chunkSize = tar.length): Promise<{ entries: (TarEntry & { content: string })[] }> {
  const entries: (TarEntry & { content: string })[] = [];
  let chunks: Buffer[] = [];
  const reader = new TarReader({
    entry: (e) => {
      chunks = [];
      entries.push({ ...e, content: '' });
    },
    data: (c) => void chunks.push(Buffer.from(c)),
    entryEnd: () => {
      entries[entries.length - 1].content = Buffer.concat(chunks).toString();
    },
  });
  for (let off = 0; off < tar.length; off += chunkSize) await reader.write(tar.subarray(off, off + chunkSize));
  reader.end();
  return { entries };
}

describe('TarReader', () => {
  const sample = tarArchive([
    { path: 'repos/', type: 'Directory' },
    { path: 'repos/gentoo/a.txt', data: 'hello' },
    { path: 'repos/gentoo/big', data: Buffer.alloc(5000, 7) },
    { path: 'repos/gentoo/link', type: 'SymbolicLink', linkpath: 'a.txt' },
    { path: `repos/gentoo/${'d'.repeat(120)}/long-name-file`, data: 'pax' },
  ]);

  it('reads members, content and metadata, whatever the chunking', async () => {
    for (const size of [sample.length, 512, 100, 7, 1]) {
      const { entries } = await read(sample, size);
      expect(entries.map((e) => e.name)).toEqual([
        'repos/',
        'repos/gentoo/a.txt',
        'repos/gentoo/big',
        'repos/gentoo/link',
        `repos/gentoo/${'d'.repeat(120)}/long-name-file`,
      ]);
      expect(entries[1]).toMatchObject({ type: 'file', size: 5, content: 'hello', mode: 0o644, mtime: 1795317000 });
      expect(entries[2].content).toBe('\x07'.repeat(5000));
      expect(entries[3]).toMatchObject({ type: 'symlink', linkname: 'a.txt' });
      expect(entries[4].content).toBe('pax');
    }
  });

  it('refuses a stream that ends inside a member (truncated archive)', async () => {
    const cut = sample.subarray(0, 512 * 4 + 100); // headers: repos/, a.txt (+1 data block), big; then 100 bytes of big
    await expect(read(cut)).rejects.toThrow(/repos\/gentoo\/big: the archive ends inside this member/);
  });

  it('refuses a stream without the end-of-archive marker', async () => {
    const noEnd = tarArchive([{ path: 'repos/a', data: 'x' }], { endMarker: false });
    await expect(read(noEnd)).rejects.toThrow(/without its end-of-archive marker/);
  });

  it('refuses a header whose checksum does not match', async () => {
    const bad = Buffer.from(sample);
    bad[512 + 10] ^= 0xff; // inside the second header's name
    await expect(read(bad)).rejects.toThrow(/checksum mismatch/);
  });

  it('refuses unsupported member types', async () => {
    const member = tarMember({ path: 'repos/x', data: '' });
    member[156] = 'S'.charCodeAt(0); // GNU sparse
    // fix the checksum so only the type is wrong
    member.fill(0x20, 148, 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += member[i];
    member.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    await expect(read(Buffer.concat([member, Buffer.alloc(1024)]))).rejects.toSatisfy(
      (e: unknown) => e instanceof GbpError && e.subject === 'repos/x' && /unsupported tar member type 'S'/.test(e.reason),
    );
  });

  it('reports devices and fifos as such (the ingest refuses them)', async () => {
    const { entries } = await read(tarArchive([{ path: 'repos/dev', type: 'CharacterDevice' }, { path: 'repos/fifo', type: 'FIFO' }]));
    expect(entries.map((e) => e.type)).toEqual(['char-device', 'fifo']);
  });
});
