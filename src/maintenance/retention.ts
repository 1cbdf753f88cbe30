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

/** What the policy decides for one build, and why: the reason `gbp purge --dry-run` prints. */
export interface RetentionDecision {
  id: string;
  keep: boolean;
  reason: string;
}

export function buildsToPurge(state: MachineState, policy: RetentionPolicy, now: number): string[] {
  return decideRetention(state, policy, now)
    .filter((d) => !d.keep)
    .map((d) => d.id);
}

/** One decision per build, oldest first. A build kept for several reasons names the first that holds. */
export function decideRetention(state: MachineState, policy: RetentionPolicy, now: number): RetentionDecision[] {
  const builds = [...state.builds].sort((a, b) => a.added - b.added);
  if (builds.length === 0) return [];
  const pinned = new Map<string, string>(); // never removed, whatever the policy
  for (const [tag, id] of Object.entries(state.tags)) if (!pinned.has(id)) pinned.set(id, `tagged ${tag}`);
  for (const id of state.kept) if (!pinned.has(id)) pinned.set(id, 'kept');
  if (state.published) pinned.set(state.published, 'published');
  const newest = builds[builds.length - 1].id;
  if (!pinned.has(newest)) pinned.set(newest, "the machine's newest build");

  const decide = policy.keepLast !== undefined || policy.maxAge !== undefined ? simpleRule(builds, policy, now) : schedule(builds, now);
  return builds.map((b) => {
    const reason = pinned.get(b.id);
    return reason ? { id: b.id, keep: true, reason } : { id: b.id, ...decide(b) };
  });
}

type Entry = MachineState['builds'][number];
type Rule = (b: Entry) => { keep: boolean; reason: string };

/** --keep-last and --max-age: a build stays when either rule given keeps it. */
function simpleRule(builds: Entry[], policy: RetentionPolicy, now: number): Rule {
  const last = new Set(policy.keepLast ? builds.slice(-policy.keepLast).map((b) => b.id) : []);
  return (b) => {
    if (last.has(b.id)) return { keep: true, reason: `among the ${policy.keepLast} newest` };
    if (policy.maxAge !== undefined && now - b.added < policy.maxAge) return { keep: true, reason: `younger than ${durationText(policy.maxAge)}` };
    const why = [policy.keepLast ? `not among the ${policy.keepLast} newest` : '', policy.maxAge !== undefined ? `older than ${durationText(policy.maxAge)}` : ''];
    return { keep: false, reason: why.filter(Boolean).join(' and ') };
  };
}

/** The default schedule: the newest build of each day, week, month and year bucket stays. */
function schedule(builds: Entry[], now: number): Rule {
  const bucketOf = new Map<string, string>();
  const newestIn = new Map<string, string>(); // bucket → newest build id in it (builds ascend)
  for (const b of builds) {
    const age = now - b.added;
    if (age < DAY) continue;
    const d = new Date(b.added * 1000);
    const day = d.toISOString().slice(0, 10);
    const bucket =
      age < 7 * DAY ? `day ${day}`
      : age < 31 * DAY ? `week ${isoWeek(d)}`
      : age < 365 * DAY ? `month ${day.slice(0, 7)}`
      : `year ${day.slice(0, 4)}`;
    bucketOf.set(b.id, bucket);
    newestIn.set(bucket, b.id);
  }
  return (b) => {
    const bucket = bucketOf.get(b.id);
    if (!bucket) return { keep: true, reason: 'younger than a day' };
    const winner = newestIn.get(bucket)!;
    return winner === b.id ? { keep: true, reason: `the newest of ${bucket}` } : { keep: false, reason: `build ${winner} is the newest of ${bucket}` };
  };
}

/** 86400 → "1d", 5400 → "90m": how an operator wrote the duration. */
function durationText(seconds: number): string {
  for (const [unit, n] of [['d', DAY], ['h', 3600], ['m', 60]] as const) if (seconds % n === 0 && seconds >= n) return `${seconds / n}${unit}`;
  return `${seconds}s`;
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
