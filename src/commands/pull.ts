/**
 * `gbp pull`: one archive in, one immutable build out, optionally published and tagged.
 * Re-pulling an id that exists is a fast no-op when the archive bytes are the same (they are only
 * hashed, not parsed) and a conflict when they differ.
 */
import { createHash } from 'node:crypto';
import { GbpError } from '../errors.js';
import { assertName } from '../records/names.js';
import { openSource } from '../archive/source.js';
import { commitBuild } from '../ingest/commit.js';
import { assertSameArchive, completeBuild } from '../ingest/write-order.js';
import { ingestArchive } from '../ingest/ingest.js';
import { loadKnownContent, type KnownContent } from '../ingest/known-content.js';
import { loadBuild, signerCounts, type BuildManifest } from '../records/build-manifest.js';
import { saveSite, type SiteSettings } from '../store/site.js';
import type { Store } from '../store/store.js';
import { updateState, type MachineState } from '../records/machine-state.js';
import { refreshMachineViews } from '../views/machine-views.js';
import { DamageRepair, readDamage } from '../records/damage.js';
import { readPolicy, rulesFor } from '../trust/policy.js';
import { openKeyring } from '../trust/trusted-keys.js';
import type { SiteSecretKey } from '../trust/site-key.js';
import { checkBuildSignature } from '../records/record-signatures.js';
import { keys } from '../store/keys.js';
import { gzipSync } from 'node:zlib';
import { MAX_LOG_BYTES, summariseLog, type LogRecord } from '../records/build-log.js';
import type { StagedLog } from '../ingest/commit.js';
import type { StagedBlob } from '../ingest/binpkg-intake.js';
import { listNewPackages, saveFileLists, type EncodedFileList } from '../records/package-files.js';
import { sha256Hex } from '../util/sha256.js';

export interface PullOptions {
  source: string;
  machine: string;
  id: string;
  publish?: boolean;
  tags?: string[];
  note?: string;
  maxTarBytes?: number;
  onProgress?: (p: { rawBytes: number; tarBytes: number; members: number; totalBytes: number | null }) => void;
  /** Names each later phase (storing, publishing) for progress output. */
  onPhase?: (text: string) => void;
  /** The site key the build's record is signed with (--site-key, GBP_SITE_KEY). */
  siteKey?: SiteSecretKey;
  /** The job's console log: a file, URL or - (false: none, not even a Jenkins URL's consoleText). */
  log?: string | false;
}

export interface PullResult {
  machine: string;
  id: string;
  status: 'stored' | 'unchanged';
  published: boolean;
  tags: string[];
  archive: { source: string; sha256: string; bytes: number; compression: string | null };
  packages: { total: number; new: number; newBytes: number; verifiedWithoutWrite: number } | null;
  trees: { files: number; bytes: number; newFiles: number; newBytes: number; names: string[] } | null;
  /** Checked against the site's trusted keys: how many packages each key signed, and how many no trusted key did (null: no key, nothing checked). */
  signatures: { signers: Record<string, number>; unvouched: number } | null;
  /** The site key whose signature is beside the build's record (null: not signed with one). */
  recordSignedBy: { name: string; id: string } | null;
  /** The console log stored with the build, and where it came from. */
  log?: (LogRecord & { source: string }) | null;
  warnings: string[];
  /** What --publish and --tag moved: the build published before (when it changed) and the tags that now point here. */
  moved?: { published: { previous: string | null } | null; tags: { tag: string; previous: string | null }[] };
  /** New packages whose file lists were written (gbp files, gbp which), and those that could not be listed. */
  fileLists?: { listed: number; unavailable: number };
  /** Damaged packages and tree files (recorded by fsck) this archive's bytes restored. */
  restored?: { blobs: number; ranges: number };
  seconds: number;
}

export const DEFAULT_MAX_TAR_BYTES = 64 * 2 ** 30;

/** The packages a pull stored new, staged until their file lists (made since the archive was read) are saved. */
interface NewPackages {
  staging: string;
  blobs: StagedBlob[];
  listing: Promise<EncodedFileList[]>;
}


export async function pull(store: Store, site: SiteSettings, opts: PullOptions): Promise<PullResult> {
  const started = performance.now();
  assertName('machine name', opts.machine);
  assertName('build id', opts.id);
  for (const t of opts.tags ?? []) assertName('tag', t);
  if (opts.log === '-' && opts.source === '-') throw new GbpError('usage', '--log -', 'the archive is read from standard input already: give the log as a file or URL');
  const source = await openSource(opts.source);
  await store.recover();

  const existing = await loadBuild(store, opts.machine, opts.id);
  // damage fsck recorded: this archive may bring the good bytes, so it is read in full even when
  // its build is stored already (records/damage.ts)
  const damage = await readDamage(store);
  const repair = damage ? new DamageRepair(damage) : null;
  // --publish, --tag and --note change the state in the write that records a new build; a
  // build stored already, or one whose pull restores damage (published only once that worked),
  // gets them in a write of their own
  const moved: NonNullable<PullResult['moved']> = { published: null, tags: [] };
  const marks = opts.publish || opts.tags?.length || opts.note !== undefined ? (state: MachineState) => markBuild(state, opts, moved) : undefined;
  // its own function: what storing held (the decoded trees, the known content) dies before the
  // pages are rendered; locals of a suspended async function stay reachable until it returns
  const { result, newPackages, state: recorded } = await storeArchive(store, site, opts, source, existing, repair, repair ? undefined : marks);

  try {
    let state = recorded;
    if (marks) {
      opts.onPhase?.(opts.publish ? 'publishing' : 'recording tags and note');
      state ??= await updateState(store, opts.machine, marks);
      result.moved = moved;
    }
    // views and pages follow the state (a new build gets its page even when not published); the
    // new packages' file lists, being made since the archive was read (decompressors in child
    // processes, while this thread commits and renders), are saved beside them
    if (newPackages) opts.onPhase?.(`publishing, and listing the files of ${newPackages.blobs.length} new packages`);
    const [views, lists] = await Promise.allSettled([refreshMachineViews(store, site, opts.machine, { state: state ?? undefined }), newPackages?.listing.then((made) => saveFileLists(store, made))]);
    if (views.status === 'rejected') throw views.reason;
    if (lists.status === 'rejected') throw lists.reason;
    result.published = !!opts.publish;
    if (lists.value) result.fileLists = lists.value;
  } finally {
    if (newPackages) await store.disposeStaging(newPackages.staging);
  }
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

/** Reads the archive and stores its build (or confirms the stored one): the pull up to the publish. */
async function storeArchive(
  store: Store,
  site: SiteSettings,
  opts: PullOptions,
  source: Awaited<ReturnType<typeof openSource>>,
  existing: BuildManifest | null,
  repair: DamageRepair | null,
  alsoRecord?: (state: MachineState) => boolean,
): Promise<{ result: PullResult; newPackages: NewPackages | null; state: MachineState | null }> {
  let result: PullResult;
  let newPackages: NewPackages | null = null;
  let state: MachineState | null = null;
  if (existing && !repair) {
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of source.open()) {
      hash.update(chunk);
      bytes += chunk.length;
    }
    const sha256 = hash.digest('hex');
    assertSameArchive(existing, sha256);
    await completeBuild(store, site, existing);
    result = base(opts, 'unchanged', { source: source.label, sha256, bytes, compression: existing.archive.compression });
    await noteRecordSignature(store, opts, result);
  } else {
    const started = Math.floor(Date.now() / 1000);
    // what the machine's last build holds, to reuse: not needed past the archive (let go of then)
    let known: KnownContent | null = await loadKnownContent(store, opts.machine);
    const parentId = known.parent?.id ?? null;
    const keyring = await openKeyring(store);
    const trust = keyring && { keyring, rules: rulesFor(await readPolicy(store), opts.machine) };
    const log = await readLog(opts, source.label);
    const staging = await store.createStaging();
    let keep = false;
    let listing: Promise<EncodedFileList[]> | null = null;
    try {
      const ingest = await ingestArchive(store, source, staging, known, {
        maxTarBytes: opts.maxTarBytes ?? DEFAULT_MAX_TAR_BYTES,
        repair,
        trust,
        machine: opts.machine,
        onProgress: opts.onProgress && ((p) => opts.onProgress!({ ...p, totalBytes: source.size })),
      });
      known = null;
      if (existing) {
        assertSameArchive(existing, ingest.archive.sha256);
        await completeBuild(store, site, existing);
        result = base(opts, 'unchanged', { ...ingest.archive });
        await noteRecordSignature(store, opts, result);
      } else {
        // the new packages' file lists are made from here on (decompressors in child processes),
        // beside the commit and the pages: saved once the build is recorded. Not beside a
        // bucket's uploads: their buffers and the lists' streams together took a 4 GB first
        // build's pull from 344 to 402 MB; after the commit, the uploads' memory is free again
        if (ingest.newBlobs.length && store.kind !== 'bucket') listing = startListing(store, ingest.newBlobs);
        await saveSite(store, site);
        opts.onPhase?.(`storing ${ingest.newBlobs.length} new packages and ${ingest.packs.length} packs`);
        const treeNames = [...ingest.trees.keys()].sort(); // the commit lets go of the trees
        const commit = await commitBuild(store, site, opts.machine, opts.id, parentId, ingest, Math.floor(Date.now() / 1000), started, { siteKey: opts.siteKey, log: log.staged ?? undefined, alsoRecord });
        state = commit.state;
        const { trees, binpkgs } = ingest.stats;
        result = base(opts, commit.existed ? 'unchanged' : 'stored', { ...ingest.archive });
        result.packages = { total: binpkgs.packages, new: binpkgs.newPackages, newBytes: binpkgs.newBytes, verifiedWithoutWrite: binpkgs.verifiedWithoutWrite };
        result.trees = { ...trees, names: treeNames };
        if (ingest.trustedKeys) {
          result.signatures = { signers: Object.fromEntries(signerCounts(ingest.packages)), unvouched: ingest.packages.filter((p) => !p.signer).length };
        }
        result.warnings = [...ingest.warnings, ...log.warnings];
        result.log = log.staged && { ...log.staged.record, source: log.source! };
        await noteRecordSignature(store, opts, result);
        if (!commit.existed && ingest.newBlobs.length) {
          // saved once the build is published; a bucket's are made now, from the staged copies
          listing ??= startListing(store, ingest.newBlobs);
          newPackages = { staging, blobs: ingest.newBlobs, listing };
          keep = true;
        }
      }
      if (repair) {
        opts.onPhase?.('restoring damaged objects fsck recorded');
        result.restored = await repair.apply(store);
      }
    } catch (err) {
      // failed after all: nothing is left to list, and the staging goes now
      newPackages = null;
      keep = false;
      throw err;
    } finally {
      keyring?.home.dispose();
      if (!keep) {
        await listing?.catch(() => undefined); // its decompressors read the staged copies
        await store.disposeStaging(staging);
      }
    }
  }

  return { result, newPackages, state };
}

/** The new packages' file lists, being made; awaited where they are saved, or before the staging goes. */
function startListing(store: Store, blobs: StagedBlob[]): Promise<EncodedFileList[]> {
  const listing = listNewPackages(store, blobs);
  listing.catch(() => undefined); // its error is thrown where it is awaited, not as an unhandled rejection
  return listing;
}

/** --publish, --tag and --note on the state; what moved is what the last call saw (a retried compare-and-swap calls it again). */
function markBuild(state: MachineState, opts: PullOptions, moved: NonNullable<PullResult['moved']>): boolean {
  let changed = false;
  moved.published = null;
  moved.tags = [];
  if (opts.publish && state.published !== opts.id) {
    moved.published = { previous: state.published };
    state.published = opts.id;
    changed = true;
  }
  for (const t of opts.tags ?? []) {
    if (state.tags[t] !== opts.id) {
      moved.tags.push({ tag: t, previous: state.tags[t] ?? null });
      state.tags[t] = opts.id;
      changed = true;
    }
  }
  if (opts.note !== undefined && state.notes[opts.id] !== opts.note) {
    state.notes[opts.id] = opts.note;
    changed = true;
  }
  return changed;
}

function base(opts: PullOptions, status: PullResult['status'], archive: PullResult['archive']): PullResult {
  return { machine: opts.machine, id: opts.id, status, published: false, tags: opts.tags ?? [], archive, packages: null, trees: null, signatures: null, recordSignedBy: null, warnings: [], seconds: 0 };
}

/** Whether the site key's signature holds over the record as stored: said in the result, or warned. */
async function noteRecordSignature(store: Store, opts: PullOptions, result: PullResult): Promise<void> {
  if (!opts.siteKey) return;
  const key = opts.siteKey.publicKey;
  const raw = await store.get(keys.buildJson(opts.machine, opts.id));
  const verdict = raw ? await checkBuildSignature(store, [key], opts.machine, opts.id, raw) : null;
  if (verdict?.status === 'good') result.recordSignedBy = { name: key.name, id: key.id };
  else {
    const why = verdict?.status === 'bad' ? verdict.reason : 'it was recorded without it';
    result.warnings.push(`the record of ${opts.machine} ${opts.id} is not signed by site key ${key.name} (${why}): 'gbp site-key sign ${opts.machine} ${opts.id}' signs it as stored`);
  }
}

/**
 * The console log to keep with the build: --log's file, URL or standard input (an error when it
 * cannot be read), else, for a Jenkins artifact URL, the build's consoleText beside it (a
 * warning when it cannot be had: the log never holds a publish back).
 */
async function readLog(opts: PullOptions, archiveLabel: string): Promise<{ staged: StagedLog | null; source: string | null; warnings: string[] }> {
  if (opts.log === false) return { staged: null, source: null, warnings: [] };
  const jenkins = /^(https?:\/\/.*?\/\d+)\/artifact\//.exec(opts.source)?.[1];
  const spec = opts.log ?? (jenkins ? `${jenkins}/consoleText` : null);
  if (!spec) return { staged: null, source: null, warnings: [] };
  try {
    const from = await openSource(spec);
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of from.open()) {
      bytes += chunk.length;
      if (bytes > MAX_LOG_BYTES) throw new GbpError('input', from.label, `the log is larger than ${MAX_LOG_BYTES} bytes`);
      chunks.push(chunk);
    }
    const text = Buffer.concat(chunks);
    const gz = gzipSync(text);
    const { lines, summary } = summariseLog(text.toString('utf8'));
    const record: LogRecord = { sha256: sha256Hex(gz), storedBytes: gz.length, bytes: text.length, lines, summary };
    return { staged: { gz, record }, source: from.label, warnings: [] };
  } catch (err) {
    if (opts.log !== undefined) throw err;
    return { staged: null, source: null, warnings: [`no console log kept: ${err instanceof GbpError ? err.message : String(err)} (the archive came from ${archiveLabel})`] };
  }
}
