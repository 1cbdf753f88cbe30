/**
 * The static API: what the pages show, as JSON beside them (api/v1/…), for scripts and dashboards
 * that read the site from its CDN without a server. Versioned by its path; within v1 fields are
 * only ever added. Written with the pages, so it is as current as they are.
 */
import type { SiteSettings } from '../store/site.js';

export const API_PREFIX = 'api/v1/';

export interface ApiBuild {
  id: string;
  /** Unix seconds the build was stored. */
  created: number;
  parent: string | null;
  packages: number;
  /** Packages added, removed, upgraded, downgraded or rebuilt since the parent. */
  changed: number;
  published: boolean;
  tags: string[];
  kept: boolean;
  note: string | null;
}

export interface ApiMachine {
  name: string;
  published: string | null;
  latest: string | null;
  builds: number;
  tags: Record<string, string>;
  /** What the front page flags: no build for a week, the latest build not published. */
  problems: string[];
}

const json = (doc: unknown) => `${JSON.stringify(doc, null, 1)}\n`;

export function machinesDocument(site: SiteSettings, machines: ApiMachine[]): string {
  return json({
    format: 1,
    machines: machines.map((m) => ({
      ...m,
      page: `${site.baseUrl}/machines/${m.name}/`,
      binhost: `${site.baseUrl}/machines/${m.name}/binpkgs/`,
      builds_url: `${site.baseUrl}/${API_PREFIX}machines/${m.name}/builds.json`,
    })),
  });
}

/** Every recorded build of the machine, oldest first. */
export function buildsDocument(site: SiteSettings, machine: string, builds: ApiBuild[]): string {
  return json({
    format: 1,
    machine,
    builds: builds.map((b) => ({
      ...b,
      page: `${site.baseUrl}/builds/${machine}/${b.id}/`,
      record: `${site.baseUrl}/builds/${machine}/${b.id}/build.json`,
      facts: `${site.baseUrl}/builds/${machine}/${b.id}/facts.v1.json`,
    })),
  });
}

/** What a build page shows, as data (everything but the marks, which builds.json has): immutable. */
export interface ApiBuildFacts {
  machine: string;
  id: string;
  created: number;
  parent: string | null;
  packages: { name: string; version: string; slot: string; buildId: string; size: number; change: string | null; signer: string | null; url: string }[];
  removed: { package: string; from: { cpv: string; buildId: string } | null }[];
  world: string[];
  worldChanges: { added: string[]; removed: string[] } | null;
  config: { path: string; type: string; status: string | null }[];
  configRemoved: string[];
  repos: { name: string; timestamp: string | null; commit: string | null; files: number; changed: number | null }[];
  artifacts: { name: string; size: number; sha512: string; blake2b: string; signer: string | null; url: string }[];
}

export function buildFactsDocument(facts: ApiBuildFacts): string {
  return json({ format: 1, ...facts });
}
