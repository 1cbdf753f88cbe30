/**
 * How a pull and a concurrent gc stay out of each other's way (invariant 6) without the pull
 * touching every object it reuses, which on a bucket would cost a request per package and pack
 * on every build, changed or not.
 *
 * The pull:  W(lease) → R(markers) → [wait, check] → W(state) → D(lease)
 *   It writes a lease naming the old objects it is about to reference, then lists the gc sweep
 *   markers. A sweep still running may yet delete, so the pull waits for it to end. Then, if any
 *   sweep was active since the pull began, it checks that every object its build references (the
 *   reused ones and those it wrote itself, which a sweep may have deleted between its age check
 *   and its delete) still exists, refusing with nothing recorded if one is gone.
 * The sweep: W(marker) → R(leases) → R(states), the mark → deletes → W(marker finished)
 *   The leases are read after the marker and BEFORE the states. That order is the proof:
 *   - if the pull's R(markers) saw the marker, it waits for the sweep and checks;
 *   - otherwise R(markers) < W(marker), so W(lease) < R(leases). Either the lease was still there
 *     when the sweep read the leases (its objects are spared), or it was already released, which
 *     happens only after W(state) < R(leases) < R(states): the mark sees the recorded build.
 *   (An earlier version read the leases after the mark: a pull could record its build and
 *   release its lease between the two, and the sweep deleted what that build used.)
 * With strongly consistent reads (a local disk; S3 since 2020) no other interleaving exists; the
 * stress test in test/maintenance/gc-race.test.ts runs the real functions through many of them.
 * Both records are single small objects; a pull pays one PUT, one LIST and one DELETE. A sweep
 * marker names its process, so a pull on the same host does not wait for a killed gc.
 */
import { randomBytes } from 'node:crypto';
import { GbpError } from '../errors.js';
import type { Store } from './store.js';
import { forEachLimit } from '../util/pool.js';
import { holderIsGone, lockHolder } from '../util/lock-holder.js';

const PULLS = 'leases/pulls/';
const SWEEPS = 'leases/gc/';
/** A pull's lease is written just before it records its build; one older than this is a dead pull's. */
const PULL_LEASE_TTL_S = 3600;
/** A running sweep renews its marker this often; one silent for longer has died. */
export const SWEEP_HEARTBEAT_S = 60;
/** Tolerated clock difference between the hosts of a pull and a gc. */
const CLOCK_SKEW_S = 300;
/** How long a pull waits for a running sweep before giving up (it records nothing then). */
const SWEEP_WAIT_MS = 15 * 60 * 1000;
/** Finished sweep markers are kept this long, for pulls that started before they ended. */
const SWEEP_MARKER_KEEP_S = 86400;

interface SweepMarker {
  started: number;
  heartbeat: number;
  finished: number | null;
  /** `<host> <pid>` of the sweeping process (util/lock-holder.ts). */
  holder?: string;
}

const now = () => Math.floor(Date.now() / 1000);

/**
 * Protects the objects a pull reuses until `release()`; throws a conflict if gc already took one
 * of them, or one of the objects the pull wrote (`written`, checked only after a sweep).
 */
export async function leaseReusedObjects(
  store: Store,
  label: string,
  started: number,
  reused: string[],
  written: string[] = [],
): Promise<{ release(): Promise<void> }> {
  const key = `${PULLS}${label}-${randomBytes(6).toString('hex')}.json`;
  await store.put(key, `${JSON.stringify({ started, written: now(), keys: reused })}\n`, { contentType: 'application/json' });
  const release = () => store.delete(key);
  try {
    if (await waitForSweeps(store, started)) {
      await forEachLimit([...reused, ...written], 16, async (k) => {
        if (!(await store.exists(k))) {
          throw new GbpError('conflict', k, 'a concurrent gc removed this object while this pull was reusing it; nothing was recorded, run the pull again');
        }
      });
    }
  } catch (err) {
    await release();
    throw err;
  }
  return { release };
}

/**
 * Waits while a sweep is running, then says whether one ran since the pull started (so what it
 * reuses must be checked). A sweep whose heartbeat stopped has died and deletes nothing more.
 */
async function waitForSweeps(store: Store, started: number): Promise<boolean> {
  const deadline = Date.now() + SWEEP_WAIT_MS;
  for (;;) {
    let running = false;
    let overlapped = false;
    for await (const key of store.list(SWEEPS)) {
      const m = await readJson<SweepMarker>(store, key);
      if (!m) continue;
      const alive = m.finished === null && now() - m.heartbeat < 5 * SWEEP_HEARTBEAT_S && !(m.holder && holderIsGone(m.holder));
      const lastActive = m.finished ?? m.heartbeat + SWEEP_HEARTBEAT_S;
      if (alive) running = true;
      if (alive || lastActive >= started - CLOCK_SKEW_S) overlapped = true;
    }
    if (!running) return overlapped;
    if (Date.now() > deadline) {
      throw new GbpError('conflict', SWEEPS, 'a gc sweep has been running for too long while this pull waited; nothing was recorded, run the pull again');
    }
    await new Promise((r) => setTimeout(r, 250 + Math.random() * 250));
  }
}

/** A gc sweep's marker: begun before it reads the leases and the states, renewed while it marks and deletes, finished at the end. */
export class SweepMarkerHandle {
  private lastBeat = 0;
  private constructor(
    private readonly store: Store,
    private readonly key: string,
    private readonly started: number,
  ) {}

  static async begin(store: Store): Promise<SweepMarkerHandle> {
    const h = new SweepMarkerHandle(store, `${SWEEPS}${now()}-${randomBytes(6).toString('hex')}.json`, now());
    await h.write(null);
    await h.forgetOldMarkers();
    return h;
  }

  /** Renews the marker when a heartbeat is due; cheap to call per deletion. */
  async beat(): Promise<void> {
    if (now() - this.lastBeat >= SWEEP_HEARTBEAT_S / 2) await this.write(null);
  }

  async finish(): Promise<void> {
    await this.write(now());
  }

  private async write(finished: number | null): Promise<void> {
    this.lastBeat = now();
    const marker: SweepMarker = { started: this.started, heartbeat: this.lastBeat, finished, holder: lockHolder() };
    await this.store.put(this.key, `${JSON.stringify(marker)}\n`, { contentType: 'application/json' });
  }

  private async forgetOldMarkers(): Promise<void> {
    for await (const key of this.store.list(SWEEPS)) {
      if (key === this.key) continue;
      const m = await readJson<SweepMarker>(this.store, key);
      const last = m ? (m.finished ?? m.heartbeat) : 0;
      if (now() - last > SWEEP_MARKER_KEEP_S) await this.store.delete(key);
    }
  }
}

/** The keys live pulls are about to reference (read after the sweep marker is written, before the mark). Expired leases are removed. */
export async function leasedKeys(store: Store, o: { readOnly?: boolean } = {}): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const key of store.list(PULLS)) {
    const lease = await readJson<{ written: number; keys: string[] }>(store, key);
    if (!lease || !Array.isArray(lease.keys)) continue;
    if (now() - lease.written > PULL_LEASE_TTL_S) {
      if (!o.readOnly) await store.delete(key);
      continue;
    }
    for (const k of lease.keys) out.add(k);
  }
  return out;
}

async function readJson<T>(store: Store, key: string): Promise<T | null> {
  const raw = await store.get(key);
  if (!raw) return null;
  try {
    return JSON.parse(raw.toString('utf8')) as T;
  } catch {
    return null; // a torn or foreign file protects nothing and blocks nothing
  }
}
