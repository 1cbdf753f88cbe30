/**
 * `gbp attach <machine> <build> FILE [--name N] [--signature FILE.asc]`: a file made after the
 * build (a stage4 rolled from it, an image) becomes one of its artifacts, at the same kind of URL
 * as the archive's own, with its .DIGESTS, its signature checked against the site's trusted keys
 * as at pull. The build record stays as it was (immutable, signed): attachments are listed in
 * attached.json beside it. Attaching the same bytes under the same name again is a no-op; other
 * bytes under a taken name are refused (exit 4).
 */
import { constants as fsConstants, statSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { GbpError } from '../errors.js';
import { checkArtifactSignature } from '../ingest/artifact-intake.js';
import { digestFile } from '../util/file-digests.js';
import { assertArtifactName, buildArtifacts, updateAttachments, writeDigests } from '../records/artifacts.js';
import { requireBuild, type ArtifactRecord } from '../records/build-manifest.js';
import { resolveBuildRef } from '../records/build-ref.js';
import { requireState, updateState } from '../records/machine-state.js';
import { contentTypeOf } from '../store/http-headers.js';
import { keys } from '../store/keys.js';
import type { SiteSettings } from '../store/site.js';
import type { Store } from '../store/store.js';
import { readPolicy, rulesFor } from '../trust/policy.js';
import { openKeyring } from '../trust/trusted-keys.js';
import { refreshMachineViews } from '../views/machine-views.js';

export interface AttachOptions {
  file: string;
  name?: string;
  /** A detached OpenPGP signature of the file; attached too, as `<name>.asc`. */
  signature?: string;
}

export interface AttachResult {
  machine: string;
  id: string;
  /** The records added (the file, and its signature), or none when they were attached already. */
  attached: ArtifactRecord[];
  url: string;
  warnings: string[];
}

export async function attach(store: Store, site: SiteSettings, machine: string, ref: string, o: AttachOptions): Promise<AttachResult> {
  const state = await requireState(store, machine);
  const id = resolveBuildRef(state, ref);
  const build = await requireBuild(store, machine, id);
  const name = o.name ?? basename(o.file);
  assertArtifactName(name);
  // staged copies (a reflink where the filesystem can): what is hashed and checked is what is stored
  const staging = await store.createStaging();
  try {
    const file = await stage(o.file, staging, 'artifact');
    const sigFile = o.signature ? await stage(o.signature, staging, 'signature') : null;
    const record = await describe(file, name);
    const sigRecord = sigFile ? await describe(sigFile, `${name}.asc`) : null;
    const warnings: string[] = [];

    // the signature, as a pull checks an archive's: bad always refused, an unknown key by the policy
    const keyring = sigRecord ? await openKeyring(store) : null;
    try {
      if (sigRecord && keyring) {
        const trust = { keyring, rules: rulesFor(await readPolicy(store), machine) };
        record.signer = await checkArtifactSignature(trust, name, file, { name: o.signature!, size: sigRecord.size }, sigFile!, machine);
        if (!record.signer) warnings.push(`${name}: signed by a key this site does not trust; attached because the policy allows unknown signers`);
      }
    } finally {
      keyring?.home.dispose();
    }
    if (sigRecord) record.signature = sigRecord.name;

    const existing = new Map((await buildArtifacts(store, build)).map((a) => [a.name, a]));
    const adding = [record, ...(sigRecord ? [sigRecord] : [])].filter((r) => {
      const had = existing.get(r.name);
      if (had && had.sha256 !== r.sha256) throw new GbpError('conflict', `${machine} ${id} ${r.name}`, 'the build already has an artifact of that name with other content; attach under another --name');
      return !had;
    });
    for (const r of adding) {
      const key = keys.buildArtifact(machine, id, r.name);
      await store.putFile(key, r === record ? file : sigFile!, { immutable: true, sha256: r.sha256, contentType: contentTypeOf(r.name) });
      await writeDigests(store, key, r, { immutable: true });
    }
    if (adding.length) {
      const now = Math.floor(Date.now() / 1000);
      let count = 0;
      // the record last: what it lists is there
      await updateAttachments(store, machine, id, (list) => {
        const names = new Set(list.map((a) => a.name));
        const fresh = adding.filter((a) => !names.has(a.name));
        list.push(...fresh.map((a) => ({ ...a, attached: now })));
        count = list.length;
        return fresh.length > 0;
      });
      // the count in the machine's state re-renders the build's page and tells sync to copy them
      await updateState(store, machine, (s) => {
        if (s.attached[id] === count) return false;
        s.attached[id] = count;
        return true;
      });
      await refreshMachineViews(store, site, machine);
    }
    return { machine, id, attached: adding, url: `${site.baseUrl}/${keys.buildArtifact(machine, id, name)}`, warnings };
  } finally {
    await store.disposeStaging(staging);
  }
}

async function stage(path: string, staging: string, what: string): Promise<string> {
  const to = join(staging, what);
  try {
    if (!statSync(path).isFile()) throw new GbpError('input', path, 'is not a regular file');
    await copyFile(path, to, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE);
  } catch (err) {
    if (err instanceof GbpError) throw err;
    throw new GbpError('input', path, `cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return to;
}
/** A file's size and digests, read once, off the main thread. */
async function describe(path: string, name: string): Promise<ArtifactRecord> {
  return { name, size: statSync(path).size, ...(await digestFile(path)) };
}
