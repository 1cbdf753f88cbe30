/**
 * Which builds a machine keeps. Pure: the builds and a policy in, the ids to remove out.
 *
 * The default is the schedule Gentoo Build Publisher's users know: every build of the last day,
 * then the newest build of each day for a week, of each week for a month, of each month for a
 * year, and of each year before that. `keepLast` and `maxAge` replace it with a simpler rule
 * (keep the N newest / everything younger than). Never removed, whatever the policy: the
 * published build, tagged and kept builds, and the machine's newest build.
 */
import type { MachineState } from '../records/machine-state.js';

export interface RetentionPolicy {
  keepLast?: number;
  /** Seconds. */
  maxAge?: number;
}

const DAY = 86400;

export function buildsToPurge(state: MachineState, policy: RetentionPolicy, now: number): string[] {
  const builds = [...state.builds].sort((a, b) => a.added - b.added);
  if (builds.length === 0) return [];
  const keep = new Set<string>([builds[builds.length - 1].id, ...state.kept, ...Object.values(state.tags)]);
  if (state.published) keep.add(state.published);

  if (policy.keepLast !== undefined || policy.maxAge !== undefined) {
    if (policy.keepLast) for (const b of builds.slice(-policy.keepLast)) keep.add(b.id);
    if (policy.maxAge !== undefined) for (const b of builds) if (now - b.added < policy.maxAge) keep.add(b.id);
  } else {
    const newestIn = new Map<string, string>(); // bucket → newest build id in it (builds ascend)
    for (const b of builds) {
      const age = now - b.added;
      if (age < DAY) {
        keep.add(b.id);
        continue;
      }
      const d = new Date(b.added * 1000);
      const day = d.toISOString().slice(0, 10);
      const bucket =
        age < 7 * DAY ? `day ${day}`
        : age < 31 * DAY ? `week ${isoWeek(d)}`
        : age < 365 * DAY ? `month ${day.slice(0, 7)}`
        : `year ${day.slice(0, 4)}`;
      newestIn.set(bucket, b.id);
    }
    for (const id of newestIn.values()) keep.add(id);
  }
  return builds.filter((b) => !keep.has(b.id)).map((b) => b.id);
}

/** ISO 8601 week, e.g. 2026-W47 (weeks start on Monday). */
function isoWeek(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const dayNum = (t.getUTCDay() + 6) % 7;
  t.setUTCDate(t.getUTCDate() - dayNum + 3);
  const firstThursday = new Date(Date.UTC(t.getUTCFullYear(), 0, 4));
  const week = 1 + Math.round(((t.getTime() - firstThursday.getTime()) / DAY / 1000 - 3 + ((firstThursday.getUTCDay() + 6) % 7)) / 7);
  return `${t.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}
