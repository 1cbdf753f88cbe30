/** Where a note's text comes from: the argument, standard input (`-`, or no argument off a terminal), or $EDITOR. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GbpError } from '../errors.js';

export async function readNoteText(text: string | undefined): Promise<string> {
  if (text !== undefined && text !== '-') return text;
  if (text === '-' || !process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8').replace(/\n+$/, '');
  }
  const editor = process.env.VISUAL || process.env.EDITOR;
  if (!editor) throw new GbpError('usage', 'note', 'give the text, - for standard input, or set $EDITOR');
  const dir = mkdtempSync(join(tmpdir(), 'gbp-note-'));
  const file = join(dir, 'NOTE');
  writeFileSync(file, '');
  try {
    const r = spawnSync(editor, [file], { stdio: 'inherit', shell: true });
    if (r.status !== 0) throw new GbpError('usage', 'note', `${editor} exited with ${r.status}; note not saved`);
    return readFileSync(file, 'utf8').replace(/\n+$/, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
