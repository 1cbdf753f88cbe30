/**
 * Reads the metadata of a legacy XPAK package (`.xpak`, `.tbz2`): a compressed tar followed by
 * `XPAKPACK u32(index_len) u32(data_len) <index> <data> XPAKSTOP`, then `u32(segment_len) STOP`.
 * Read from the end, so the (large) tar part is never touched.
 */
import { open } from 'node:fs/promises';
import type { BinpkgMetadata } from './metadata.js';

const MAX_SEGMENT = 64 << 20;

export async function readXpakMetadata(path: string): Promise<BinpkgMetadata> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    if (size < 16) throw new Error('too short for an XPAK trailer');
    const tail = Buffer.alloc(8);
    await fh.read(tail, 0, 8, size - 8);
    if (tail.toString('latin1', 4, 8) !== 'STOP') throw new Error("no 'STOP' trailer (not an XPAK package)");
    const segLen = tail.readUInt32BE(0);
    if (segLen < 24 || segLen > MAX_SEGMENT || segLen > size - 8) throw new Error(`impossible XPAK segment length ${segLen}`);
    const seg = Buffer.alloc(segLen);
    await fh.read(seg, 0, segLen, size - 8 - segLen);
    if (seg.toString('latin1', 0, 8) !== 'XPAKPACK' || seg.toString('latin1', segLen - 8) !== 'XPAKSTOP') {
      throw new Error('XPAK segment markers missing');
    }
    const indexLen = seg.readUInt32BE(8);
    const dataLen = seg.readUInt32BE(12);
    if (16 + indexLen + dataLen + 8 !== segLen) throw new Error('XPAK index and data lengths do not add up');
    const index = seg.subarray(16, 16 + indexLen);
    const data = seg.subarray(16 + indexLen, 16 + indexLen + dataLen);
    const values: Record<string, string> = {};
    let off = 0;
    while (off < index.length) {
      if (off + 4 > index.length) throw new Error('XPAK index is truncated');
      const nameLen = index.readUInt32BE(off);
      if (off + 4 + nameLen + 8 > index.length) throw new Error('XPAK index is truncated');
      const name = index.toString('utf8', off + 4, off + 4 + nameLen);
      const at = index.readUInt32BE(off + 4 + nameLen);
      const len = index.readUInt32BE(off + 8 + nameLen);
      if (at + len > data.length) throw new Error(`XPAK entry '${name}' points outside the data`);
      values[name] = data.toString('utf8', at, at + len);
      off += 12 + nameLen;
    }
    return { format: 'xpak', compression: 'xpak', signed: false, values };
  } finally {
    await fh.close();
  }
}
