/**
 * A changed /etc/portage file shown as what changed: unified-diff hunks with three lines of
 * context, as `git diff` shows them. The line diff itself is jsdiff's (a well-kept Myers
 * implementation); this only shapes its hunks for the page.
 */
import { structuredPatch } from 'diff';

export interface DiffLine {
  kind: 'hunk' | 'add' | 'del' | 'ctx';
  text: string;
}

/** Past this a diff says how many lines it left out: a page is not a dump. */
const MAX_LINES = 1000;

export function configDiff(before: string, after: string): { lines: DiffLine[]; omitted: number } {
  const patch = structuredPatch('a', 'b', before, after, '', '', { context: 3 });
  const lines: DiffLine[] = [];
  let omitted = 0;
  for (const h of patch.hunks) {
    const all: DiffLine[] = [{ kind: 'hunk', text: `@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@` }];
    for (const l of h.lines) {
      if (l.startsWith('\\')) continue; // "\ No newline at end of file"
      all.push({ kind: l[0] === '+' ? 'add' : l[0] === '-' ? 'del' : 'ctx', text: l });
    }
    for (const l of all) {
      if (lines.length < MAX_LINES) lines.push(l);
      else omitted++;
    }
  }
  return { lines, omitted };
}
