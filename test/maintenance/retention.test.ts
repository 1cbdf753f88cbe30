import { describe, expect, it } from 'vitest';
import { buildsToPurge } from '../../src/maintenance/retention.js';
import { emptyState, type MachineState } from '../../src/records/machine-state.js';

const DAY = 86400;
const NOW = Date.UTC(2026, 10, 22, 12) / 1000; // Sunday 2026-11-22 12:00 UTC

/** A build every 6 hours for two years, ids b0 (oldest) … */
function machine(hours = 6, days = 730): MachineState {
  const s = emptyState('web');
  const n = (days * 24) / hours;
  for (let i = 0; i < n; i++) s.builds.push({ id: `b${i}`, added: NOW - (n - i) * hours * 3600 });
  return s;
}
const ageOf = (s: MachineState, id: string) => (NOW - s.builds.find((b) => b.id === id)!.added) / DAY;

describe('default retention (as Gentoo Build Publisher users know it)', () => {
  const s = machine();
  const gone = new Set(buildsToPurge(s, {}, NOW));
  const kept = s.builds.filter((b) => !gone.has(b.id));

  it('keeps every build of the last day', () => {
    const lastDay = s.builds.filter((b) => NOW - b.added < DAY);
    expect(lastDay.length).toBe(3); // 6, 12 and 18 hours old
    for (const b of lastDay) expect(gone.has(b.id)).toBe(false);
  });

  it('then one per day for a week, one per week for a month, one per month for a year, one per year', () => {
    const count = (lo: number, hi: number) => kept.filter((b) => ageOf(s, b.id) >= lo && ageOf(s, b.id) < hi).length;
    expect(count(1, 7)).toBeGreaterThanOrEqual(5);
    expect(count(1, 7)).toBeLessThanOrEqual(7);
    expect(count(7, 31)).toBeGreaterThanOrEqual(3);
    expect(count(7, 31)).toBeLessThanOrEqual(5);
    expect(count(31, 365)).toBeGreaterThanOrEqual(11);
    expect(count(31, 365)).toBeLessThanOrEqual(13);
    expect(count(365, 800)).toBeLessThanOrEqual(3);
    expect(kept.length).toBeLessThan(40);
  });

  it('never removes the published, tagged, kept or newest build', () => {
    const t = machine();
    t.published = 'b10';
    t.tags.stable = 'b20';
    t.kept.push('b30');
    const purge = buildsToPurge(t, {}, NOW);
    for (const id of ['b10', 'b20', 'b30', t.builds.at(-1)!.id]) expect(purge).not.toContain(id);
    expect(buildsToPurge(t, { keepLast: 1 }, NOW)).not.toContain('b10');
  });
});

describe('simple policies', () => {
  it('keep the N newest', () => {
    const s = machine(24, 10);
    expect(buildsToPurge(s, { keepLast: 3 }, NOW)).toEqual(s.builds.slice(0, 7).map((b) => b.id));
  });
  it('keep everything younger than a maximum age', () => {
    const s = machine(24, 10);
    expect(buildsToPurge(s, { maxAge: 4.5 * DAY }, NOW)).toEqual(s.builds.slice(0, 6).map((b) => b.id));
  });
  it('a machine that stopped building a year ago keeps its newest build', () => {
    const s = machine(24, 30);
    for (const b of s.builds) b.added -= 400 * DAY;
    expect(buildsToPurge(s, { maxAge: 30 * DAY }, NOW)).toEqual(s.builds.slice(0, -1).map((b) => b.id));
  });
});
