/**
 * The folders of src/ follow the data flow, and imports go one way only: a folder imports the
 * folders below it, never one above it or beside it. An import that climbs back up fails here,
 * naming the file and the import, so the structure cannot erode one shortcut at a time.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(__dirname, '../../src');

/** Lowest first. Folders on one line share a layer and may not import each other. */
const LAYERS: string[][] = [
  ['errors.ts', 'util'],
  ['archive'],
  ['binpkg'],
  ['store'],
  ['trust'],
  ['records'],
  ['ingest'],
  ['views'],
  ['export', 'serve', 'maintenance', 'notify', 'jenkins'],
  ['commands'],
  ['cli'],
];
const layerOf = (top: string) => LAYERS.findIndex((l) => l.includes(top));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

const topOf = (file: string) => relative(SRC, file).split('/')[0];

describe('the import direction of src/', () => {
  it('every folder is in a layer', () => {
    const tops = new Set(sources(SRC).map(topOf));
    expect([...tops].filter((t) => layerOf(t) < 0)).toEqual([]);
  });

  it('no import climbs up or crosses sideways', () => {
    const bad: string[] = [];
    for (const file of sources(SRC)) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
        const target = resolve(dirname(file), m[1]);
        const from = topOf(file);
        const to = topOf(target);
        if (from === to) continue;
        const a = layerOf(from);
        const b = layerOf(to);
        if (b > a || (b === a && from !== to)) bad.push(`${relative(SRC, file)} imports ${m[1]} (${to} is ${b > a ? 'above' : 'beside'} ${from})`);
      }
    }
    expect(bad).toEqual([]);
  });
});
