/** `gbp files` and `gbp which`: the files of a build's packages, and the packages that ship a path. */
import { listFiles, whichPackage } from '../commands/files.js';
import { bytes, table } from '../util/format.js';
import { globals, openGlobalStore, print, printJson, program } from './context.js';

export function registerFileCommands(): void {
  program
    .command('files')
    .description("the files a build's packages install, optionally only those matching a glob")
    .argument('<machine>')
    .argument('<build>', 'build id, @ (published), @@ (latest), @tag, or an offset such as @-1')
    .argument('[glob]', "e.g. '/usr/lib64/*.so*', or without a slash a file name anywhere: 'python3*'")
    .action(async (machine: string, ref: string, glob?: string) => {
      const g = globals();
      const r = await listFiles(await openGlobalStore(g), machine, ref, glob);
      if (g.json) return printJson(r);
      const link = (f: { type: string; target?: string }) => (f.type === 'symlink' ? ` -> ${f.target}` : f.type === 'hardlink' ? ` (hard link to ${f.target})` : '');
      if (r.files.length) print(table(['PATH', 'SIZE', 'PACKAGE'], r.files.map((f) => [`${f.path}${link(f)}`, f.type === 'file' ? bytes(f.size) : f.type, `${f.package}${f.buildId ? ` (${f.buildId})` : ''}`])));
      else print(`${machine} ${r.id}: no file${glob ? ` matches ${glob}` : ''}`);
      for (const u of r.unavailable) process.stderr.write(`gbp: warning: ${u.package}: no file list (${u.reason})\n`);
    });

  program
    .command('which')
    .description('the packages (and builds) that ship a path, across machines or in one')
    .argument('<path>', "an absolute path (/usr/bin/python3), or a glob ('libssl.so*')")
    .argument('[machine]')
    .action(async (path: string, machine?: string) => {
      const g = globals();
      const rows = await whichPackage(await openGlobalStore(g), path, machine);
      if (g.json) return printJson(rows);
      if (!rows.length) return print(`no package${machine ? ` of ${machine}` : ''} ships ${path}`);
      for (const r of rows) {
        const byMachine = new Map<string, string[]>();
        for (const b of r.builds) byMachine.set(b.machine, [...(byMachine.get(b.machine) ?? []), `${b.id}${b.published ? '*' : ''}`]);
        print(`${r.package}${r.buildId ? ` (BUILD_ID ${r.buildId})` : ''}: ${r.paths.join(', ')}`);
        print(`  in ${[...byMachine].map(([m, ids]) => `${m} ${ids.join(' ')}`).join('; ')}   (* published)`);
      }
    });
}
