/**
 * `gbp delete <machine> [<build>...]`: builds known to be broken, or a machine retired from
 * Jenkins, removed on purpose rather than by the retention policy. Published, tagged and kept
 * builds are refused unless forced; forced, their tags and keep mark go with them, and a machine
 * whose published build goes publishes nothing (its index answers 404, never a build it no longer
 * has). Order: the machine's state first (one compare-and-swap: nothing lists the builds any
 * more), then their directories, then, for a whole machine, its published views and pages, its
 * state last. The packages and files they used stay until `gc` finds them unreferenced.
 */
import { GbpError } from '../errors.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/store.js';
import { requireState, updateState, type MachineState } from '../records/machine-state.js';
import { assertName } from '../records/names.js';
import { API_PREFIX } from '../views/static-api.js';

export interface DeletePlan {
  machine: string;
  /** The whole machine goes (no build named). */
  wholeMachine: boolean;
  /** The builds that go, with what marked them (published, @tag, kept). */
  builds: { id: string; marks: string[] }[];
}

function marksOf(state: MachineState, id: string): string[] {
  const marks: string[] = [];
  if (state.published === id) marks.push('published');
  for (const [tag, b] of Object.entries(state.tags)) if (b === id) marks.push(`@${tag}`);
  if (state.kept.includes(id)) marks.push('kept');
  return marks;
}

/** What would go; refuses (exit 4) a marked build unless `force`, and names an unknown one (exit 5). */
export async function planDelete(store: Store, machine: string, ids: string[], force: boolean): Promise<DeletePlan> {
  assertName('machine name', machine);
  const state = await requireState(store, machine);
  const recorded = new Set(state.builds.map((b) => b.id));
  for (const id of ids) if (!recorded.has(id)) throw new GbpError('not-found', `${machine} ${id}`, 'no such build (gbp list shows them)');
  const chosen = ids.length ? [...new Set(ids)] : state.builds.map((b) => b.id);
  const builds = chosen.map((id) => ({ id, marks: marksOf(state, id) }));
  const marked = builds.filter((b) => b.marks.length);
  if (marked.length && !force) {
    const what = marked.map((b) => `${b.id} (${b.marks.join(', ')})`).join(', ');
    throw new GbpError('conflict', machine, `${ids.length ? '' : 'the machine has marked builds: '}${what}; give --force to delete ${marked.length === 1 ? 'it' : 'them'} anyway`);
  }
  return { machine, wholeMachine: ids.length === 0, builds };
}

export async function applyDelete(store: Store, plan: DeletePlan): Promise<void> {
  const gone = new Set(plan.builds.map((b) => b.id));
  await updateState(store, plan.machine, (s) => {
    if (!s.builds.some((b) => gone.has(b.id))) return false;
    s.builds = s.builds.filter((b) => !gone.has(b.id));
    if (s.published !== null && gone.has(s.published)) s.published = null;
    for (const [tag, id] of Object.entries(s.tags)) if (gone.has(id)) delete s.tags[tag];
    s.kept = s.kept.filter((id) => !gone.has(id));
    for (const id of gone) {
      delete s.notes[id];
      delete s.attached[id];
    }
    return true;
  });
  for (const id of gone) for await (const key of store.list(keys.buildDir(plan.machine, id))) await store.delete(key);
  if (!plan.wholeMachine) return;
  // the indexes first (Packages.gz, then Packages: a client falls back from one to the other),
  // the state last, so a delete cut short is finished by running it again
  const prefix = `machines/${plan.machine}/`;
  const views: string[] = [];
  for await (const key of store.list(prefix)) if (key !== keys.machineState(plan.machine)) views.push(key);
  const rank = (k: string) => (k.endsWith('/Packages.gz') ? 0 : k.endsWith('/Packages') ? 1 : 2);
  for (const key of views.sort((a, b) => rank(a) - rank(b))) await store.delete(key);
  await store.delete(`${API_PREFIX}machines/${plan.machine}/builds.json`);
  await store.delete(keys.machineState(plan.machine));
}
