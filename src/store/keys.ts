/**
 * The layout of a store (DESIGN.md "Layout inside a store"): the same keys on disk and in a bucket.
 * Every key the system writes is built here.
 */
const h2 = (sha256: string) => sha256.slice(0, 2);

export const keys = {
  site: () => 'site.json',
  /** What fsck found damaged, for the next pull to restore (records/damage.ts). */
  damage: () => 'damage.json',
  /** A binary package; its URL names what it is for a human reading a log. */
  blob: (sha256: string, name: string) => `blobs/${blobPath(sha256, name)}`,
  /** The blob's immutable record: stanza and the MTIME it keeps for life. Written after the blob. */
  blobMeta: (sha256: string) => `blobs/${h2(sha256)}/${sha256}/meta.json`,
  /** The files the package installs (binpkg/file-list.ts), gzipped; derived from the blob, so written once. */
  blobFiles: (sha256: string) => `blobs/${h2(sha256)}/${sha256}/files.txt.gz`,
  /** The directory holding a blob's file(s) and its meta.json. */
  blobDir: (sha256: string) => `blobs/${h2(sha256)}/${sha256}/`,
  pack: (id: string) => `packs/${h2(id)}/${id}.pack`,
  tree: (sha256: string) => `trees/${h2(sha256)}/${sha256}.json.gz`,
  buildDir: (machine: string, id: string) => `builds/${machine}/${id}/`,
  buildJson: (machine: string, id: string) => `builds/${machine}/${id}/build.json`,
  /** The site key's signature over build.json (records/record-signatures.ts), named by the key's id so keys can rotate. */
  buildSignature: (machine: string, id: string, keyId: string) => `builds/${machine}/${id}/build.json.${keyId}.sig`,
  /** A build's artifact (aux/ of its archive, or gbp attach): the file itself, at a stable URL. */
  buildArtifact: (machine: string, id: string, name: string) => `builds/${machine}/${id}/artifacts/${name}`,
  /** Artifacts attached after the build was recorded (build.json is immutable). */
  buildAttachments: (machine: string, id: string) => `builds/${machine}/${id}/attached.json`,
  /** The published build's artifacts, by their names, at one URL per machine. */
  machineArtifact: (machine: string, name: string) => `machines/${machine}/artifacts/${name}`,
  /** What machines/<m>/artifacts/ holds now: path, size and digests per line (latest-stage4-*.txt's model). */
  machineArtifactList: (machine: string) => `machines/${machine}/artifacts/latest.txt`,
  /** The build's console log, gzipped (records/build-log.ts). */
  buildLog: (machine: string, id: string) => `builds/${machine}/${id}/log.txt.gz`,
  buildBinpkgs: (machine: string, id: string) => `builds/${machine}/${id}/binpkgs/`,
  /** What the build's page shows that depends only on the build and its parent (views/pages.ts). */
  buildPageFacts: (machine: string, id: string) => `builds/${machine}/${id}/page.json`,
  /** The static API's document of one build (views/static-api.ts): versioned, immutable, gone with the build. */
  buildApiFacts: (machine: string, id: string) => `builds/${machine}/${id}/facts.v1.json`,
  machineState: (machine: string) => `machines/${machine}/state.json`,
  /** Page `page` (from 1, oldest builds first) of a machine's build history (views/pages.ts). */
  machineHistoryPage: (machine: string, page: number) => `machines/${machine}/history/${page}.html`,
  machineBinpkgs: (machine: string) => `machines/${machine}/binpkgs/`,
  tagBinpkgs: (machine: string, tag: string) => `machines/${machine}/tags/${tag}/binpkgs/`,
  /** A trusted signing key, armoured, by its primary fingerprint; public, for clients too. */
  trustedKey: (fingerprint: string) => `keys/${fingerprint}.asc`,
  /** Every trusted key in one file: what a client imports (derived from keys/*.asc). */
  trustedKeyBundle: () => 'keys/trusted.asc',
  /** What a pull does with unsigned packages and unknown signers (trust/policy.ts). */
  trustPolicy: () => 'trust.json',
};

/** A blob's path relative to `blobs/`: what the Packages index lists as PATH. */
export function blobPath(sha256: string, name: string): string {
  return `${h2(sha256)}/${sha256}/${name}`;
}
