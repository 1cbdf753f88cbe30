/**
 * The published build's artifacts at one URL per machine and name (machines/<m>/artifacts/<name>:
 * "the stage4 of what database runs"), another name for the build's own copy (a hard link on disk,
 * a server-side copy in a bucket), and latest.txt beside them in the form of Gentoo's
 * latest-stage3-*.txt: the path of each file from the site's root and its size.
 */
import { keys } from '../store/keys.js';
import type { Store } from '../store/store.js';
import { buildArtifacts, writeDigests } from '../records/artifacts.js';
import { requireBuild } from '../records/build-manifest.js';
import { contentTypeOf } from '../store/http-headers.js';

export async function writePublishedArtifacts(store: Store, machine: string, id: string | null): Promise<void> {
  const build = id ? await requireBuild(store, machine, id) : null;
  const artifacts = build ? await buildArtifacts(store, build) : [];
  const listKey = keys.machineArtifactList(machine);
  const text = artifacts.length
    ? [
        `# Latest as of ${new Date(build!.created * 1000).toUTCString()}`,
        `# ts=${build!.created}`,
        `# ${machine} build ${build!.id}: path from the site root, size`,
        ...artifacts.map((a) => `${keys.buildArtifact(machine, build!.id, a.name)} ${a.size}`),
        '',
      ].join('\n')
    : null;
  const have = (await store.get(listKey))?.toString('utf8') ?? null;
  if (have === text) return;
  const wanted = new Set<string>();
  for (const a of artifacts) {
    const from = keys.buildArtifact(machine, build!.id, a.name);
    const to = keys.machineArtifact(machine, a.name);
    // too large to copy server-side (over 5 GiB): latest.txt still names the build's own copy
    if (await store.copyWithin(from, to, { sha256: a.sha256, contentType: contentTypeOf(a.name) })) wanted.add(to);
    const digests = await writeDigests(store, to, a);
    if (digests) wanted.add(digests);
  }
  for await (const key of store.list(`machines/${machine}/artifacts/`)) if (!wanted.has(key) && key !== listKey) await store.delete(key);
  if (text) await store.put(listKey, text, { contentType: 'text/plain; charset=utf-8' });
  else await store.delete(listKey);
}
