/**
 * Names for builds wherever a build is named: `<id>`, `@` (published), `@@` (latest), `@<tag>`,
 * and an offset on the @-forms counted in build order (`@-1`: the build before the published one,
 * `@stable+2`). Pure: resolved against a machine's state.
 */
import { GbpError } from '../errors.js';
import type { MachineState } from './machine-state.js';

export function resolveBuildRef(state: MachineState, ref: string): string {
  const subject = `${state.machine} ${ref}`;
  if (!ref.startsWith('@')) {
    if (!state.builds.some((b) => b.id === ref)) throw new GbpError('not-found', subject, `no build '${ref}' of ${state.machine}`);
    return ref;
  }
  const m = /^@(@|[A-Za-z0-9][A-Za-z0-9._-]*?)?([+-]\d+)?$/.exec(ref);
  if (!m) throw new GbpError('usage', subject, `'${ref}' is not a build reference (id, @, @@, @tag, with an optional +N/-N)`);
  const [, base, offset] = m;
  let id: string | null;
  if (base === undefined) {
    id = state.published;
    if (!id) throw new GbpError('not-found', subject, `${state.machine} has no published build`);
  } else if (base === '@') {
    id = state.builds.at(-1)?.id ?? null;
    if (!id) throw new GbpError('not-found', subject, `${state.machine} has no builds`);
  } else {
    id = state.tags[base] ?? null;
    if (!id) throw new GbpError('not-found', subject, `${state.machine} has no tag '${base}'`);
  }
  if (!offset) return id;
  const at = state.builds.findIndex((b) => b.id === id) + Number(offset);
  const target = state.builds[at];
  if (!target) throw new GbpError('not-found', subject, `${ref} points past the ${state.builds.length} builds of ${state.machine}`);
  return target.id;
}
