/** Paths to ../shared/fixtures (read-only, written by real Portage) and their expected.json. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SHARED } from './shared.js';

export const FIXTURES = join(SHARED, 'fixtures/portage');
export const fixture = (...p: string[]) => join(FIXTURES, ...p);

export interface ExpectedBinpkg {
  path: string;
  size: number;
  md5: string;
  sha1: string;
  sha256: string;
  format: 'gpkg' | 'xpak';
  compression: string;
  signed: boolean;
  cpv: string;
  build_id: number;
  index_entry: Record<string, string>;
  metadata: Record<string, string>;
}

export interface Expected {
  indexes: Record<string, { header: Record<string, string>; entries: Record<string, string>[] }>;
  binpkgs: ExpectedBinpkg[];
  archives: Record<string, { members: { name: string; type: string; size: number; sha256?: string; mtime: number }[] }>;
  /** What changed from build.tar.gz to build2.tar.gz, as the fixtures' author recorded it. */
  build_diff: {
    binpkg_instances_added: BinpkgInstance[];
    binpkg_instances_removed: BinpkgInstance[];
    files_added: string[];
    files_removed: string[];
    files_changed: string[];
  };
}

export interface BinpkgInstance {
  cpv: string;
  build_id: number;
}

export const expected: Expected = JSON.parse(readFileSync(fixture('expected.json'), 'utf8'));
