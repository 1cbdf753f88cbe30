/** Stores the tests start from, made with the real CLI from the Portage-written fixtures. */
import { expect } from 'vitest';
import { gbp, tempDir } from './cli.js';
import { fixture } from './fixtures.js';

export const BUILD1 = fixture('build-archive/build.tar.gz');
export const BUILD2 = fixture('build-archive/build2.tar.gz');

/** Machine `web` with builds 1 and 2, build 2 published; `g` runs gbp on that store. */
export async function twoBuilds() {
  const store = tempDir();
  const g = (...args: string[]) => gbp(['--store', store, ...args]);
  expect((await g('pull', BUILD1, '-m', 'web', '-b', '1')).code).toBe(0);
  expect((await g('pull', BUILD2, '-m', 'web', '-b', '2', '--publish')).code).toBe(0);
  return { store, g };
}
