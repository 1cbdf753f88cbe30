/**
 * A file of the project itself (templates/, package.json), found from here: three levels up in
 * dist/src/util, two in src/util, where the tests run the sources. Null when it is not there.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export function projectFile(name: string): string | null {
  return [resolve(here, '../../..', name), resolve(here, '../..', name)].find((f) => existsSync(f)) ?? null;
}
