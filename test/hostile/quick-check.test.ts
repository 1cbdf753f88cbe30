/**
 * Regression for the incident "the quick check lets one machine poison another": an unchanged
 * file was recognised by path, size and xxh64, which a forged file can match. Here the reference
 * tree claims exactly the new bytes' path, size and xxh64 (what a forger achieves) for other
 * content; the intake must still identify the bytes by their own SHA-256.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import xxhash from 'xxhash-wasm';
import { describe, expect, it } from 'vitest';
import { KnownContent } from '../../src/ingest/known-content.js';
import { PackWriter } from '../../src/ingest/pack-writer.js';
import { TreeIntake } from '../../src/ingest/tree-intake.js';
import { encodeTree, type TreeEntry } from '../../src/records/tree-manifest.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('a file is known by its SHA-256 only', () => {
  it('a reference entry with the same path, size and xxh64 but other content is not trusted', async () => {
    const { h64Raw } = await xxhash();
    const clean = Buffer.from('EAPI=8\nDESCRIPTION="clean"\n');
    const forged = Buffer.from('EAPI=8\nDESCRIPTION="evil!"\n');
    expect(forged.length).toBe(clean.length);
    // the reference (another machine's tree) says: at this path, these size and xxh64 are `clean`
    const reference: TreeEntry = {
      path: 'app-misc/hello/hello-1.ebuild', type: 'f', mode: 0o644, mtime: 1, size: forged.length,
      sha256: sha(clean), xxh64: h64Raw(forged).toString(16), pack: 'cleanpack', offset: 0, target: null,
    };
    const known = new KnownContent();
    known.addTree('repos/gentoo', (await encodeTree([{ ...reference, path: '.', type: 'd', sha256: null, xxh64: null, pack: null, size: 0 }, reference])).data);
    const intake = new TreeIntake(new PackWriter(mkdtempSync(join(tmpdir(), 'gbp-qc-'))), known);
    const sink = intake.beginFile('repos/gentoo', reference.path, 0o644, 2, forged.length);
    sink.data(forged);
    const e = sink.end();
    expect(e.sha256).toBe(sha(forged));
    expect(e.pack).not.toBe('cleanpack'); // the forged bytes are stored as what they are
    expect(intake.stats.newFiles).toBe(1);
  });
});
