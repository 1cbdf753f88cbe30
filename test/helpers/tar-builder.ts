/**
 * Builds tar archives inside tests, including hostile ones node-tar's own packer would sanitise:
 * headers are encoded by node-tar's Header/Pax (a library for the format), names are ours.
 */
import { gzipSync } from 'node:zlib';
import { Header, Pax } from 'tar';

export type MemberType = 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'FIFO';

export interface Member {
  path: string;
  type?: MemberType;
  data?: Buffer | string;
  linkpath?: string;
  mode?: number;
  mtime?: number;
}

export function tarMember(m: Member): Buffer {
  const data = m.data === undefined ? Buffer.alloc(0) : Buffer.from(m.data);
  const type = m.type ?? 'File';
  const fields = {
    path: m.path,
    type,
    mode: m.mode ?? (type === 'Directory' ? 0o755 : 0o644),
    size: type === 'File' ? data.length : 0,
    mtime: new Date((m.mtime ?? 1795317000) * 1000),
    uid: 0,
    gid: 0,
    uname: 'root',
    gname: 'root',
    linkpath: m.linkpath,
  };
  const h = new Header(fields);
  h.encode();
  const parts: Buffer[] = [];
  if (h.needPax) parts.push(new Pax({ path: m.path, linkpath: m.linkpath }).encode());
  parts.push(h.block!);
  if (type === 'File' && data.length) {
    parts.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  return Buffer.concat(parts);
}

/** A complete tar: members then the two zero blocks. */
export function tarArchive(members: Member[], { endMarker = true } = {}): Buffer {
  return Buffer.concat([...members.map(tarMember), endMarker ? Buffer.alloc(1024) : Buffer.alloc(0)]);
}

export const gz = (b: Buffer) => gzipSync(b);
