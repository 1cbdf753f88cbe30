/**
 * What fsck found damaged among the immutable, content-addressed objects, kept in the store
 * (`damage.json`) so that the next pull whose archive holds those bytes restores them, with one
 * read per pull instead of re-reading what the store holds. Derived views need no record: fsck
 * --repair regenerates them.
 *
 * A damaged package is rewritten whole. A damaged range of a pack (one tree file) is patched in
 * place with bytes whose SHA-256 is the one every tree manifest records for it: the pack's name and
 * every other range stay as they are, so every build that points into it is whole again.
 */
import { GbpError } from '../errors.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/store.js';

export interface DamagedRange {
  pack: string;
  offset: number;
  size: number;
  sha256: string;
}

export interface DamageRecord {
  /** Packages by SHA-256, with the key of the damaged file. */
  blobs: { sha256: string; key: string }[];
  ranges: DamagedRange[];
}

export async function readDamage(store: Store): Promise<DamageRecord | null> {
  const raw = await store.get(keys.damage());
  if (!raw) return null;
  try {
    const d = JSON.parse(raw.toString('utf8')) as DamageRecord;
    if (!Array.isArray(d.blobs) || !Array.isArray(d.ranges)) return null;
    return d.blobs.length || d.ranges.length ? d : null;
  } catch {
    return null; // a torn or foreign file: fsck writes it again
  }
}

/** Replaces the record (fsck's view is complete); an empty record removes it. */
export async function writeDamage(store: Store, d: DamageRecord): Promise<void> {
  if (!d.blobs.length && !d.ranges.length) {
    if (await store.exists(keys.damage())) await store.delete(keys.damage());
    return;
  }
  await store.put(keys.damage(), `${JSON.stringify(d, null, 1)}\n`, { contentType: 'application/json' });
}

/** What a pull collects from its archive for the damage it knows. */
export class DamageRepair {
  readonly blobShas: Set<string>;
  private readonly rangeShas: Set<string>;
  /** Good bytes of damaged tree files, by SHA-256 (held in memory; tree-intake.ts caps their size). */
  private readonly found = new Map<string, Buffer>();
  /** Staged package files that restore damaged blobs, by SHA-256. */
  private readonly staged = new Map<string, string>();

  constructor(readonly record: DamageRecord) {
    this.blobShas = new Set(record.blobs.map((b) => b.sha256));
    this.rangeShas = new Set(record.ranges.map((r) => r.sha256));
  }

  wantsFile(sha256: string): boolean {
    return this.rangeShas.has(sha256) && !this.found.has(sha256);
  }

  offerFile(sha256: string, data: Buffer): void {
    if (this.rangeShas.has(sha256)) this.found.set(sha256, Buffer.from(data));
  }

  offerBlob(sha256: string, stagedFile: string): void {
    if (this.blobShas.has(sha256)) this.staged.set(sha256, stagedFile);
  }

  /** Writes what the archive brought and records what is left. Returns what was restored. */
  async apply(store: Store): Promise<{ blobs: number; ranges: number }> {
    const left: DamageRecord = { blobs: [], ranges: [] };
    let blobs = 0;
    for (const b of this.record.blobs) {
      const file = this.staged.get(b.sha256);
      if (!file) {
        left.blobs.push(b);
        continue;
      }
      await store.putFile(b.key, file, { immutable: true, contentType: 'application/x-tar', sha256: b.sha256 });
      blobs++;
    }
    const byPack = new Map<string, DamagedRange[]>();
    for (const r of this.record.ranges) {
      const list = byPack.get(r.pack);
      if (list) list.push(r);
      else byPack.set(r.pack, [r]);
    }
    let ranges = 0;
    for (const [pack, list] of byPack) {
      if (!list.some((r) => this.found.has(r.sha256))) {
        for (const r of list) left.ranges.push(r); // never spread: a pack can hold 100,000 ranges
        continue;
      }
      const key = keys.pack(pack);
      const bytes = await store.get(key);
      if (!bytes) throw new GbpError('store', key, 'missing: a pack fsck found damaged is gone');
      for (const r of list) {
        const good = this.found.get(r.sha256);
        if (!good || good.length !== r.size || r.offset + r.size > bytes.length) {
          left.ranges.push(r);
          continue;
        }
        good.copy(bytes, r.offset);
        ranges++;
      }
      await store.put(key, bytes, { immutable: true, contentType: 'application/octet-stream' });
    }
    await writeDamage(store, left);
    return { blobs, ranges };
  }
}
