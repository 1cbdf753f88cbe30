/** The members of a real Portage-written build archive, in order with their bytes, to rebuild variants of it. */
import { readFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { TarReader } from '../../src/archive/tar-reader.js';
import { tarArchive, type Member, type MemberType } from './tar-builder.js';

const TYPE: Record<string, MemberType> = { file: 'File', directory: 'Directory', symlink: 'SymbolicLink', hardlink: 'Link' };

export async function archiveMembers(path: string): Promise<Member[]> {
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
  await reader.write(gunzipSync(readFileSync(path)));
  reader.end();
  return out;
}

export const tgz = (members: Member[]) => gzipSync(tarArchive(members));
