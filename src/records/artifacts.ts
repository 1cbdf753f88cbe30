/**
 * A build's artifacts: those its archive carried (in build.json, immutable and signed with it) and
 * those attached afterwards (`gbp attach`), kept in attached.json beside it and changed by
 * compare-and-swap, so two attaches at once both land.
 */
import { GbpError } from '../errors.js';
import { keys } from '../store/keys.js';
import type { PutOptions, Store } from '../store/store.js';
import type { ArtifactRecord, BuildManifest } from './build-manifest.js';

interface Attachments {
  format: 1;
  artifacts: ArtifactRecord[];
}

export async function readAttachments(store: Store, machine: string, id: string): Promise<ArtifactRecord[]> {
  const raw = await store.get(keys.buildAttachments(machine, id));
  return raw ? parseAttachments(raw, keys.buildAttachments(machine, id)).artifacts : [];
}

function parseAttachments(raw: Buffer, where: string): Attachments {
  try {
    const a = JSON.parse(raw.toString('utf8')) as Attachments;
    if (a?.format === 1 && Array.isArray(a.artifacts)) return a;
  } catch {
    // named below
  }
  throw new GbpError('store', where, 'is not an attachments record (damaged or not written by gbp)');
}

/** Every artifact of the build, the archive's first, then the attached ones in the order they came. */
export async function buildArtifacts(store: Store, build: BuildManifest): Promise<ArtifactRecord[]> {
  return [...(build.artifacts ?? []), ...(await readAttachments(store, build.machine, build.id))];
}

/** Adds records to attached.json; `change` returns false to leave it as it is. */
export async function updateAttachments(store: Store, machine: string, id: string, change: (list: ArtifactRecord[]) => boolean): Promise<void> {
  const key = keys.buildAttachments(machine, id);
  for (let attempt = 0; attempt < 20; attempt++) {
    const current = await store.getVersioned(key);
    const record = current ? parseAttachments(current.data, key) : { format: 1 as const, artifacts: [] };
    if (!change(record.artifacts)) return;
    if (await store.putIfVersion(key, `${JSON.stringify(record, null, 1)}\n`, current?.version ?? null, { contentType: 'application/json' })) return;
  }
  throw new GbpError('conflict', key, 'changed by others 20 times in a row; try again');
}

/** An artifact's name: a relative path of ordinary components (it becomes part of a URL and a file name). */
export function assertArtifactName(name: string): void {
  const ok = name.length > 0 && name.length <= 255 && name.split('/').every((c) => /^[A-Za-z0-9._+-]+$/.test(c) && c !== '.' && c !== '..');
  if (!ok) throw new GbpError('usage', name, 'an artifact name is a relative path of letters, digits and . _ + - (e.g. stage4/stage4-amd64-openrc.tar.xz)');
}

/** catalyst's .DIGESTS: each hash under its heading, with the file's name. */
export function digestsText(record: ArtifactRecord): string {
  const base = record.name.split('/').pop()!;
  return `# BLAKE2B HASH\n${record.blake2b}  ${base}\n# SHA512 HASH\n${record.sha512}  ${base}\n`;
}

/** A detached signature's name (`<artifact>.asc` or `.sig`): it gets no .DIGESTS of its own. */
export const signatureNameOf = (name: string) => /\.(asc|sig)$/.test(name);

/**
 * The artifact's .DIGESTS beside the object at `key` (the build's copy, or the machine's), unless
 * it is a signature; returns the key written, or null. One place for every writer of them.
 */
export async function writeDigests(store: Store, key: string, record: ArtifactRecord, options: PutOptions = {}): Promise<string | null> {
  if (signatureNameOf(record.name)) return null;
  await store.put(`${key}.DIGESTS`, digestsText(record), { ...options, contentType: 'text/plain; charset=utf-8' });
  return `${key}.DIGESTS`;
}
