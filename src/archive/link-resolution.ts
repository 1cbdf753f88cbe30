/**
 * Where a symbolic link really leads, resolved the way the kernel will resolve it once the tree is
 * written out (by the rsync exporter, or by a client's rsync): component by component, following
 * every link met on the way, with `..` applied to the path reached so far, not to the text. Checking
 * the target as text is not enough: with `a → ..`, the text `a/../..` normalises to `.`, but the
 * kernel goes up from where `a` led, two levels further.
 *
 * Each link is checked against the whole archive once every member is known (members may come in
 * any order), and every step of its resolution must stay inside its boundary: the link's own
 * repository for `repos/<repo>/…` (each is exported as its own rsync module), the archive for the
 * rest (`etc-portage/make.profile` leads into `repos/`). A step into a name the archive lacks, or
 * through a file, ends the walk (the kernel would stop there too). Chains longer than the kernel's
 * 40 links and loops are refused. Each link is resolved once and remembered, so the whole check
 * is linear in the archive's names.
 */

export type NodeKind = 'dir' | 'file' | 'link';

export interface Namespace {
  /** What the archive holds at a canonical name (directories implied by deeper names count). */
  kind(name: string): NodeKind | undefined;
  /** A symlink's target text. */
  target(name: string): string;
}

const MAX_LINKS = 40; // the kernel's MAXSYMLINKS

type Resolved = { to: string[] | null } | { reason: string };
const IN_PROGRESS = Symbol('in-progress');

export class LinkResolver {
  private readonly memo = new Map<string, Resolved | typeof IN_PROGRESS>();

  constructor(private readonly ns: Namespace) {}

  /** Null when the link at `name` is safe, or the reason it is refused. */
  check(name: string): string | null {
    const r = this.resolve(name, 0);
    return 'reason' in r ? r.reason : null;
  }

  /** The boundary every step of a link's resolution must stay in. */
  static boundaryOf(name: string): string[] {
    const parts = name.split('/');
    return parts[0] === 'repos' && parts.length > 2 ? parts.slice(0, 2) : [];
  }

  /** The components the link leads to (null: it ends at nothing, harmlessly), or a refusal. */
  private resolve(name: string, depth: number): Resolved {
    const known = this.memo.get(name);
    if (known === IN_PROGRESS) return { reason: 'symbolic link loop' };
    if (known) return known;
    if (depth >= MAX_LINKS) return { reason: `a chain of more than ${MAX_LINKS} symbolic links` };
    this.memo.set(name, IN_PROGRESS);
    const r = this.walk(name, depth);
    this.memo.set(name, r);
    return r;
  }

  private walk(name: string, depth: number): Resolved {
    const target = this.ns.target(name);
    if (target === '' || target.startsWith('/')) return { reason: `symbolic link to '${target}' points outside the archive` };
    const boundary = LinkResolver.boundaryOf(name);
    const outside = () => ({ reason: `symbolic link to '${target}' resolves outside ${boundary.length ? boundary.join('/') : 'the archive'}` });
    const at = name.split('/');
    at.pop(); // resolution starts in the link's directory
    const pending = target.split('/').reverse();
    while (pending.length) {
      const c = pending.pop()!;
      if (c === '' || c === '.') continue;
      if (c === '..') {
        if (at.length === 0) return outside();
        at.pop();
        if (!within(at, boundary)) return outside();
        continue;
      }
      at.push(c);
      if (!within(at, boundary)) return outside();
      const here = at.join('/');
      const kind = this.ns.kind(here);
      if (kind === undefined) return { to: null }; // nothing there: the kernel stops (ENOENT)
      if (kind === 'file') return { to: pending.some((p) => p !== '' && p !== '.') ? null : at };
      if (kind === 'link') {
        const inner = this.resolve(here, depth + 1);
        if ('reason' in inner) return { reason: `through '${here}': ${inner.reason}` };
        if (!inner.to) return { to: null };
        at.length = 0;
        at.push(...inner.to);
        if (!within(at, boundary)) return outside();
      }
    }
    return { to: at };
  }
}

function within(at: string[], boundary: string[]): boolean {
  if (at.length < boundary.length) return false;
  for (let i = 0; i < boundary.length; i++) if (at[i] !== boundary[i]) return false;
  return true;
}
