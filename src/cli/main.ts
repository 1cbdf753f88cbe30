#!/usr/bin/env -S node --max-semi-space-size=8
/**
 * The `gbp` command line. Commands are declared here and stay thin: each parses its arguments,
 * calls a typed function in src/commands/, and prints the result as text or, with --json, as one
 * JSON document on stdout. Errors are turned into exit codes in exactly one place (`run`).
 *
 * The first line gives V8 a young generation of 2 x 8 MiB, not 2 x 16: a pull's short-lived
 * buffers (the inflated archive, 256 KiB at a time) are freed by scavenges twice as often, which
 * took 15-30 MB off the peak of a pull, local or into a bucket, for the same time spent in GC
 * (BENCHMARKS.md). Run as `node dist/src/cli/main.js`, gbp works the same without it.
 */
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { CommanderError, InvalidArgumentError, Option, type Command } from 'commander';
import { exitCodeFor, GbpError } from '../errors.js';
import { pull, DEFAULT_MAX_TAR_BYTES } from '../commands/pull.js';
import { publish } from '../commands/publish.js';
import { exportCommand } from '../commands/export-rsync.js';
import { keepBuild, noteBuild, tagBuild, untag } from '../commands/build-marks.js';
import { diff, packageLog } from '../commands/history.js';
import { addKeys, listKeys, removeKey, trustPolicy } from '../commands/keys.js';
import { clientConfig } from '../commands/client-config.js';
import { attach } from '../commands/attach.js';
import { buildLogText, searchLogs } from '../commands/logs.js';
import { readNoteText } from './note-input.js';
import { runGc } from '../maintenance/gc.js';
import { check, deleteBuilds, purge } from '../commands/maintain.js';
import { runServer } from '../serve/run-server.js';
import { FsStore } from '../store/fs-store.js';
import type { ExportResult } from '../export/exporter.js';
import { listAll, listBuilds, showBuild } from '../commands/inspect.js';
import type { Store } from '../store/store.js';
import { globals, globalSite, openGlobalStore, openOrCreateGlobalStore, print, printJson, program, s3Flags, gbpVersion, type GlobalOptions } from './context.js';
import { notifyHooks, registerHooksCommands, reportDeliveries } from './hooks-commands.js';
import { registerJenkinsCommands } from './jenkins-commands.js';
import { registerFileCommands } from './files-commands.js';
import { sync } from '../commands/sync.js';
import { loadSite, saveSite } from '../store/site.js';
import type { Announcement } from '../commands/announce.js';
import { bytes, table, when } from '../util/format.js';
import { progress, pullProgress } from './progress.js';
import { duration, integer, size } from './option-values.js';
import { readSecretKeyFile, readTrustedSiteKeys, type SitePublicKey, type SiteSecretKey } from '../trust/site-key.js';
import { recordReaderFor } from '../records/record-signatures.js';
import { generateKey, signBuilds, verifyBuilds } from '../commands/site-key.js';

/** The site secret key (--site-key, GBP_SITE_KEY), if the publisher signs its records. */
const siteSecretKey = (g: GlobalOptions): SiteSecretKey | undefined => {
  const file = g.siteKey ?? process.env.GBP_SITE_KEY;
  return file ? readSecretKeyFile(file) : undefined;
};
/** The site public keys a reader trusts: --trust-site-key, else GBP_TRUSTED_SITE_KEYS. */
const trustedSiteKeys = (given: string[]): SitePublicKey[] => readTrustedSiteKeys(given.length ? given : process.env.GBP_TRUSTED_SITE_KEYS ? [process.env.GBP_TRUSTED_SITE_KEYS] : []);
const trustSiteKeyOption = () =>
  new Option('--trust-site-key <key|file>', "the publisher's site public key (name:base64, or a file of them; repeatable; env GBP_TRUSTED_SITE_KEYS)").argParser(
    (v: string, acc: string[] = []) => [...acc, v],
  );

program
  .command('pull')
  .description('ingest a build archive (file, - for stdin, or http(s) URL) as a new build')
  .argument('<archive>', 'build archive: .tar, .tar.gz, .tar.xz, .tar.zst or .tar.bz2 (detected from content)')
  .requiredOption('-m, --machine <name>', 'the machine the archive was built for')
  .requiredOption('-b, --build <id>', 'the build id (e.g. the Jenkins build number)')
  .option('--publish', 'publish the build once it is stored')
  .option('--tag <tag>', 'tag the build (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .option('--note <text>', 'attach a note to the build')
  .addOption(new Option('--max-size <bytes>', 'refuse archives whose tar stream is larger').default(DEFAULT_MAX_TAR_BYTES).argParser(size('--max-size')))
  .option('--log <file|url|->', "the job's console log, kept with the build (default for a Jenkins artifact URL: the build's consoleText)")
  .option('--no-log', 'keep no console log')
  .addHelpText(
    'after',
    `
The archive is read once, as a stream: binary packages are stored once by SHA-256
across all builds and machines, repository trees as content-addressed files.
Pulling the same archive under the same id again is a quick no-op; a different
archive under an existing id is refused (exit 4).`,
  )
  .action(async (archive: string, o: { machine: string; build: string; publish?: boolean; tag: string[]; note?: string; maxSize: number; log?: string | false }) => {
    const g = globals();
    const siteKey = siteSecretKey(g);
    const store = await openOrCreateGlobalStore(g);
    const site = await globalSite(store, g);
    const reporter = pullProgress(!g.json && !g.quiet);
    const r = await pull(store, site, {
      source: archive,
      machine: o.machine,
      id: o.build,
      publish: o.publish,
      tags: o.tag,
      note: o.note,
      maxTarBytes: o.maxSize,
      onProgress: reporter,
      onPhase: reporter.phase,
      siteKey,
      log: o.log,
    }).finally(() => reporter.done());
    const events: Announcement[] = [];
    if (r.status === 'stored') events.push({ event: 'pulled', machine: r.machine, build: r.id });
    if (r.moved?.published) events.push({ event: 'published', machine: r.machine, build: r.id, previous: r.moved.published.previous });
    for (const t of r.moved?.tags ?? []) events.push({ event: 'tagged', machine: r.machine, build: r.id, tag: t.tag, previous: t.previous });
    const traffic = store.traffic?.();
    const hooks = await notifyHooks(store, site, events);
    if (g.json) return printJson({ ...r, traffic, hooks });
    for (const w of r.warnings) process.stderr.write(`gbp: warning: ${w}\n`);
    if (r.status === 'unchanged') {
      print(`${r.machine} ${r.id}: already stored from the same archive; nothing to do`);
    } else {
      const p = r.packages!;
      const t = r.trees!;
      print(`${r.machine} ${r.id}: stored in ${r.seconds.toFixed(1)} s`);
      print(`  packages  ${p.total} (${p.new} new, ${bytes(p.newBytes)} written)`);
      if (r.signatures) {
        const by = Object.entries(r.signatures.signers).map(([k, n]) => `${n} by ${k.slice(-16)}`);
        if (r.signatures.unvouched) by.push(`${r.signatures.unvouched} not by a trusted key`);
        print(`  signed    ${by.join(', ') || 'nothing'}`);
      }
      print(`  trees     ${t.names.join(', ')}: ${t.files} files, ${bytes(t.bytes)} (${t.newFiles} new files, ${bytes(t.newBytes)} written)`);
    }
    if (r.log) print(`  log       ${r.log.lines} lines from ${r.log.source}${r.log.summary.result ? ` (${r.log.summary.result})` : ''}`);
    if (r.recordSignedBy) print(`  record    signed with site key ${r.recordSignedBy.name} (id ${r.recordSignedBy.id})`);
    if (r.published) print(`  published ${site.baseUrl}/machines/${r.machine}/binpkgs/`);
    if (r.restored && (r.restored.blobs || r.restored.ranges)) print(`  restored ${r.restored.blobs} damaged packages and ${r.restored.ranges} damaged tree files that fsck recorded`);
    if (r.tags.length) print(`  tagged    ${r.tags.map((t) => `@${t}`).join(' ')}`);
    reportDeliveries(hooks);
  });

program
  .command('publish')
  .description("make a build what the machine's clients get (publishing an older build is a rollback)")
  .argument('<machine>')
  .argument('<build>', 'build id, @@ (latest), @tag, or an offset such as @-1')
  .action(async (machine: string, ref: string) => {
    const g = globals();
    const store = await openGlobalStore(g);
    const site = await globalSite(store, g);
    const r = await publish(store, site, machine, ref);
    const hooks = r.changed ? await notifyHooks(store, site, [{ event: 'published', machine, build: r.id, previous: r.previous }]) : [];
    if (g.json) return printJson({ ...r, hooks });
    print(
      r.changed
        ? `${machine}: published ${r.id}${r.previous ? ` (was ${r.previous})` : ''} at ${site.baseUrl}/machines/${machine}/binpkgs/`
        : `${machine}: ${r.id} is already published`,
    );
    reportDeliveries(hooks);
  });

program
  .command('list')
  .description('list machines, or the builds of one machine (newest first)')
  .argument('[machine]')
  .action(async (machine?: string) => {
    const g = globals();
    const store = await openGlobalStore(g);
    if (!machine) {
      const rows = await listAll(store);
      if (g.json) return printJson(rows);
      if (!rows.length) return print(`no machines in ${store.location}`);
      print(
        table(
          ['MACHINE', 'BUILDS', 'PUBLISHED', 'LATEST', 'LAST BUILD', 'TAGS'],
          rows.map((r) => [r.machine, String(r.builds), r.published ?? '-', r.latest ?? '-', when(r.latestAdded), Object.keys(r.tags).map((t) => `@${t}`).join(' ')]),
        ),
      );
      return;
    }
    const rows = await listBuilds(store, machine);
    if (g.json) return printJson(rows);
    print(
      table(
        ['BUILD', 'ADDED', 'PUBLISHED', 'KEPT', 'TAGS', 'NOTE'],
        rows.map((b) => [b.id, when(b.added), b.published ? 'yes' : '', b.kept ? 'yes' : '', b.tags.map((t) => `@${t}`).join(' '), b.note?.split('\n')[0] ?? '']),
      ),
    );
  });

program
  .command('show')
  .description('show one build: archive, packages, trees')
  .argument('<machine>')
  .argument('<build>', 'build id, @ (published), @@ (latest), @tag, or an offset such as @-1')
  .action(async (machine: string, ref: string) => {
    const g = globals();
    const { build, summary } = await showBuild(await openGlobalStore(g), machine, ref);
    if (g.json) return printJson({ ...summary, build });
    const pk = build.binpkgs.packages;
    print(`${machine} ${build.id}${summary.published ? '  (published)' : ''}${summary.tags.length ? `  ${summary.tags.map((t) => `@${t}`).join(' ')}` : ''}`);
    print(`  created   ${when(build.created)}`);
    print(`  parent    ${build.parent ?? '-'}`);
    print(`  archive   ${build.archive.source} (${bytes(build.archive.bytes)}, ${build.archive.compression}, sha256 ${build.archive.sha256})`);
    if (summary.note) print(`  note      ${summary.note}`);
    print(`  trees     ${Object.entries(build.trees).map(([n, t]) => `${n} (${t.files} files, ${bytes(t.bytes)})`).join(', ')}`);
    print(`  packages  ${pk.length}, ${bytes(pk.reduce((n, p) => n + p.size, 0))}\n`);
    print(
      table(
        ['PACKAGE', 'SLOT', 'BUILD_ID', 'SIZE', 'FORMAT'],
        pk.map((p) => [p.stanza.CPV, p.stanza.SLOT ?? '0', p.stanza.BUILD_ID ?? '', bytes(p.size), `${p.format}${p.signer ? ` signed by ${p.signer.slice(-16)}` : p.signed ? ' signed' : ''}`]),
      ),
    );
    if (summary.artifacts.length) {
      print('');
      print(
        table(
          ['ARTIFACT', 'SIZE', 'SHA512', 'SIGNED BY'],
          summary.artifacts.map((x) => [x.name, bytes(x.size), `${x.sha512.slice(0, 16)}…`, x.signer ? x.signer.slice(-16) : x.signature ? 'not checked' : '']),
        ),
      );
    }
    for (const w of build.warnings) print(`warning: ${w}`);
  });

program
  .command('attach')
  .description("add a file to a build's artifacts (a stage4 rolled from it, an image), at builds/<m>/<id>/artifacts/<name>")
  .argument('<machine>')
  .argument('<build>', 'build id, @ (published), @@ (latest), @tag, or an offset such as @-1')
  .argument('<file>')
  .option('--name <name>', 'its name among the artifacts (default: the file name); a relative path')
  .option('--signature <file>', 'its detached OpenPGP signature, checked against the trusted keys and attached as <name>.asc')
  .addHelpText(
    'after',
    `
Artifacts also come with the archive: every file under its aux/ is one (aux/stage4/x.tar.xz
becomes artifacts/stage4/x.tar.xz, and x.tar.xz.asc beside it is its signature). Each gets a
catalyst-style .DIGESTS (SHA512, BLAKE2B); the published build's are also at
machines/<m>/artifacts/<name>, listed in machines/<m>/artifacts/latest.txt.

Example:
  gbp attach database @ stage4-amd64-openrc-database.tar.xz --signature stage4-amd64-openrc-database.tar.xz.asc`,
  )
  .action(async (machine: string, ref: string, file: string, o: { name?: string; signature?: string }) => {
    const g = globals();
    const store = await openGlobalStore(g);
    const site = await globalSite(store, g);
    const r = await attach(store, site, machine, ref, { file, name: o.name, signature: o.signature });
    if (g.json) return printJson(r);
    for (const w of r.warnings) process.stderr.write(`gbp: warning: ${w}\n`);
    if (!r.attached.length) return print(`${machine} ${r.id}: already has this artifact: ${r.url}`);
    for (const a of r.attached) print(`${machine} ${r.id}: attached ${a.name} (${bytes(a.size)}${a.signer ? `, signed by ${a.signer.slice(-16)}` : ''})`);
    print(`  ${r.url}`);
  });

program
  .command('log-text')
  .description("print a build's console log")
  .argument('<machine>')
  .argument('<build>', 'build id, @ (published), @@ (latest), @tag, or an offset such as @-1')
  .action(async (machine: string, ref: string) => {
    const g = globals();
    const r = await buildLogText(await openGlobalStore(g), machine, ref);
    if (g.json) return printJson(r);
    process.stdout.write(r.text);
  });

program
  .command('search-logs')
  .description('the builds whose console log matches a regular expression, newest first')
  .argument('<regex>', 'a JavaScript regular expression, matched line by line (case-insensitive with --ignore-case)')
  .argument('[machine]')
  .option('-i, --ignore-case', 'match regardless of case')
  .addOption(new Option('--max-lines <n>', 'matching lines shown per build').default(3).argParser(integer('--max-lines', 0)))
  .action(async (pattern: string, machine: string | undefined, o: { ignoreCase?: boolean; maxLines: number }) => {
    const g = globals();
    const rows = await searchLogs(await openGlobalStore(g), pattern, machine, { ignoreCase: !!o.ignoreCase, maxLines: o.maxLines });
    if (g.json) return printJson(rows);
    for (const r of rows) {
      print(`${r.machine} ${r.id} (${when(r.created)}): ${r.matches} matching line${r.matches === 1 ? '' : 's'}`);
      for (const l of r.lines) print(`  ${l.number}: ${l.text}`);
    }
    if (!rows.length) print('no build log matches');
  });

program
  .command('tag')
  .description('tag a build (its own binpkgs index and rsync name <machine>@<tag>), or remove a tag')
  .argument('<machine>')
  .argument('<build>', 'build reference, or the tag itself with --remove')
  .argument('[tag]')
  .option('--remove', 'remove the tag: gbp tag <machine> <tag> --remove')
  .action(async (machine: string, a: string, b: string | undefined, o: { remove?: boolean }) => {
    const g = globals();
    const store = await openGlobalStore(g);
    const site = await globalSite(store, g);
    if (o.remove) {
      if (b) throw new GbpError('usage', 'tag', 'with --remove give only the machine and the tag');
      const r = await untag(store, site, machine, a.replace(/^@/, ''));
      return g.json ? printJson(r) : print(`${machine}: removed @${a.replace(/^@/, '')} (was ${r.id})`);
    }
    if (!b) throw new GbpError('usage', 'tag', 'give the machine, the build and the tag');
    const tag = b.replace(/^@/, '');
    const r = await tagBuild(store, site, machine, a, tag);
    const hooks = r.changed && r.id ? await notifyHooks(store, site, [{ event: 'tagged', machine, build: r.id, tag, previous: r.previous }]) : [];
    if (g.json) return printJson({ ...r, hooks });
    print(r.changed ? `${machine}: @${tag} is now ${r.id}` : `${machine}: @${tag} is already ${r.id}`);
    reportDeliveries(hooks);
  });

program
  .command('keep')
  .description('keep a build forever (purge never removes it), or release it')
  .argument('<machine>')
  .argument('<build>')
  .option('--release', 'no longer keep it')
  .action(async (machine: string, ref: string, o: { release?: boolean }) => {
    const g = globals();
    const store = await openGlobalStore(g);
    const site = await globalSite(store, g);
    const r = await keepBuild(store, site, machine, ref, !!o.release);
    if (g.json) return printJson(r);
    print(`${machine} ${r.id}: ${o.release ? 'released' : 'kept'}${r.changed ? '' : ' already'}`);
  });

program
  .command('note')
  .description('attach a note to a build: text, - for standard input, or $EDITOR; --delete removes it')
  .argument('<machine>')
  .argument('<build>')
  .argument('[text]')
  .option('--delete', 'remove the note')
  .action(async (machine: string, ref: string, text: string | undefined, o: { delete?: boolean }) => {
    const g = globals();
    const store = await openGlobalStore(g);
    const note = o.delete ? null : await readNoteText(text);
    const site = await globalSite(store, g);
    const r = await noteBuild(store, site, machine, ref, note);
    if (g.json) return printJson(r);
    print(`${machine} ${r.id}: note ${o.delete ? 'deleted' : 'saved'}${r.changed ? '' : ' (unchanged)'}`);
  });

program
  .command('diff')
  .description('what changed between two builds: packages, world, configuration, repositories')
  .argument('<machine>')
  .argument('<from>', 'build reference (e.g. @-1)')
  .argument('<to>', 'build reference (e.g. @)')
  .action(async (machine: string, from: string, to: string) => {
    const g = globals();
    const d = await diff(await openGlobalStore(g), machine, from, to);
    if (g.json) return printJson(d);
    const mark: Record<string, string> = { added: '+', removed: '-', upgraded: '↑', downgraded: '↓', rebuilt: '~' };
    print(`${machine} ${d.from} → ${d.to}`);
    print(`packages: ${d.packages.length ? '' : 'no change'}`);
    for (const c of d.packages) {
      const v = (i: { cpv: string; buildId: string } | null) => (i ? `${i.cpv}${i.buildId ? ` (build ${i.buildId})` : ''}` : '');
      const what = c.change === 'added' ? v(c.to) : c.change === 'removed' ? v(c.from) : `${v(c.from)} → ${v(c.to)}`;
      print(`  ${mark[c.change]} ${c.change.padEnd(10)} ${what}`);
    }
    if (d.world.added.length || d.world.removed.length) {
      print(`world: ${[...d.world.added.map((a) => `+${a}`), ...d.world.removed.map((r) => `-${r}`)].join(' ')}`);
    }
    const cfg = d.config;
    if (cfg.added.length + cfg.removed.length + cfg.changed.length) {
      print(`etc-portage: ${[...cfg.added.map((p) => `+${p}`), ...cfg.removed.map((p) => `-${p}`), ...cfg.changed.map((p) => `~${p}`)].join(' ')}`);
    }
    for (const r of d.repos) {
      const commits = r.fromCommit || r.toCommit ? `, commit ${r.fromCommit?.slice(0, 12) ?? '-'} → ${r.toCommit?.slice(0, 12) ?? '-'}` : '';
      print(`repos/${r.repo}: ${r.from ?? "-"} → ${r.to ?? "-"}${commits} (${r.filesChanged} file${r.filesChanged === 1 ? "" : "s"} changed)`);
    }
  });

program
  .command('log')
  .description('the builds in which a package changed (for bisecting a bad package)')
  .argument('<machine>')
  .argument('<package>', 'category/name or name')
  .action(async (machine: string, pkg: string) => {
    const g = globals();
    const entries = await packageLog(await openGlobalStore(g), machine, pkg);
    if (g.json) return printJson(entries);
    if (!entries.length) return print(`${pkg} did not change in any build of ${machine}`);
    print(
      table(
        ['BUILD', 'ADDED', 'CHANGE', 'FROM', 'TO'],
        entries.map((e) => [e.build, when(e.added), e.change, e.from ? `${e.from.cpv}-${e.from.buildId}` : '', e.to ? `${e.to.cpv}-${e.to.buildId}` : '']),
      ),
    );
  });

registerFileCommands();

program
  .command('purge')
  .description('remove builds the retention policy no longer keeps (never published, tagged or kept ones)')
  .argument('[machines...]', 'default: every machine, also those that stopped building')
  .option('--dry-run', 'print what would go, change nothing')
  .addOption(new Option('--keep-last <n>', 'keep the n newest builds instead of the default schedule').argParser(integer('--keep-last', 1)))
  .addOption(new Option('--max-age <duration>', 'keep builds younger than this instead of the default schedule').argParser(duration('--max-age')))
  .addHelpText(
    'after',
    `
Default schedule: every build of the last day, then the newest of each day for a week,
of each week for a month, of each month for a year, and of each year. Published,
tagged and kept builds, and each machine's newest build, are never removed.
Packages and files stay until 'gbp gc' finds nothing uses them.`,
  )
  .action(async (machines: string[], o: { dryRun?: boolean; keepLast?: number; maxAge?: number }) => {
    const g = globals();
    const store = await openGlobalStore(g);
    const plans = await purge(store, await globalSite(store, g), machines.length ? machines : null, { keepLast: o.keepLast, maxAge: o.maxAge }, { dryRun: o.dryRun });
    if (g.json) return printJson({ dryRun: !!o.dryRun, machines: plans });
    const n = plans.reduce((a, p) => a + p.builds.length, 0);
    for (const p of plans) for (const b of p.builds) print(`${o.dryRun ? 'would remove' : 'removed'} ${p.machine} ${b.id} (${when(b.added)}, packages ${bytes(b.packagesBytes)}): ${b.reason}`);
    const freed = plans.reduce((a, p) => a + p.freedBytes, 0);
    print(n ? `${n} build${n === 1 ? '' : 's'} ${o.dryRun ? 'would be ' : ''}removed; ${bytes(freed)} of packages no other build uses (gbp gc frees them)` : 'nothing to purge');
  });

program
  .command('delete')
  .description('delete builds known to be broken, or (no build named) a machine retired from Jenkins')
  .argument('<machine>')
  .argument('[builds...]', 'build ids; none: every build, the views and pages of the machine')
  .option('--dry-run', 'print what would go, change nothing')
  .option('--force', 'delete published, tagged and kept builds too (their tags and marks go with them)')
  .addHelpText(
    'after',
    `
A published, tagged or kept build is refused (exit 4) unless --force; forced, a machine whose
published build goes publishes nothing (its index answers 404). Packages and files stay until
'gbp gc' finds nothing uses them.

Examples:
  gbp delete database 41 42 --dry-run
  gbp delete old-laptop --force`,
  )
  .action(async (machine: string, ids: string[], o: { dryRun?: boolean; force?: boolean }) => {
    const g = globals();
    const store = await openGlobalStore(g);
    const site = await globalSite(store, g);
    const plan = await deleteBuilds(store, site, machine, ids, { dryRun: o.dryRun, force: o.force });
    const gone = plan.builds.map((b) => b.id);
    const hooks = o.dryRun || !(gone.length || plan.wholeMachine) ? [] : await notifyHooks(store, site, [{ event: 'deleted', machine, builds: gone, wholeMachine: plan.wholeMachine }]);
    if (g.json) return printJson({ dryRun: !!o.dryRun, ...plan, hooks });
    const verb = o.dryRun ? 'would delete' : 'deleted';
    for (const b of plan.builds) print(`${verb} ${machine} ${b.id}${b.marks.length ? ` (${b.marks.join(', ')})` : ''}`);
    if (plan.wholeMachine) print(`${verb} machine ${machine}: its published views and pages${o.dryRun ? '' : "; 'gbp gc' frees what only it used"}`);
    else print(`${plan.builds.length} build${plan.builds.length === 1 ? '' : 's'} ${o.dryRun ? 'would be ' : ''}deleted${o.dryRun ? '' : "; 'gbp gc' frees what only they used"}`);
    reportDeliveries(hooks);
  });

program
  .command('gc')
  .description('delete packages, trees and packs no build uses, once older than the grace period')
  .option('--dry-run', 'print what would go and the bytes freed, change nothing')
  .addOption(new Option('--grace <duration>', 'only delete what nothing used for this long').default(86400).argParser(duration('--grace')))
  .option('--force', `delete even when that is more than half of the store`)
  .action(async (o: { dryRun?: boolean; grace: number; force?: boolean }) => {
    const g = globals();
    const store = await openGlobalStore(g);
    const line = progress(!g.json && !g.quiet);
    const r = await runGc(store, { graceSeconds: o.grace, force: !!o.force, dryRun: !!o.dryRun, onProgress: (t) => line.update(`gc: ${t}`) }).finally(() => line.done());
    if (g.json) return printJson(r);
    for (const x of r.garbage) print(`${o.dryRun ? 'would delete' : 'deleted'} ${x.what} (${bytes(x.bytes)})`);
    print(`${r.garbage.length} unused objects, ${bytes(r.bytes)}${o.dryRun ? ' would be freed' : ' freed'}; ${r.tooYoung} unused but younger than the grace period${r.leased ? `, ${r.leased} leased by a pull in flight` : ''}`);
    if (r.refusal) print(`the real run would refuse: ${r.refusal}`);
  });

program
  .command('fsck')
  .description("verify every object, reference and index; --repair regenerates what is derived")
  .option('--repair', 'regenerate indexes that differ from build.json and state.json')
  .option('--quick', 'skip reading content (sizes and references only)')
  .action(async (o: { repair?: boolean; quick?: boolean }) => {
    const g = globals();
    const store = await openGlobalStore(g);
    // a repair may move the store to a new base URL: every index is then rewritten for it
    const site = await loadSite(store, g.baseUrl ?? process.env.GBP_BASE_URL, g.rsyncUrl, { allowBaseUrlChange: !!o.repair });
    const line = progress(!g.json && !g.quiet);
    const r = await check(store, site, { repair: o.repair, content: !o.quick, onProgress: (t) => line.update(`fsck: ${t}`) }).finally(() => line.done());
    if (g.json) printJson(r);
    else {
      for (const p of r.problems) print(`${p.repaired ? 'repaired' : 'PROBLEM '} ${p.key}: ${p.problem}`);
      const c = r.checked;
      print(`checked ${c.blobs} packages, ${c.trees} trees, ${c.files} tree files, ${c.builds} builds, ${c.artifacts} artifacts, ${c.views} published indexes: ${r.problems.filter((p) => !p.repaired).length} problems`);
    }
    const left = r.problems.filter((p) => !p.repaired).length;
    if (left) throw new GbpError('corrupt', 'fsck', `${left} problems`, true);
  });

program
  .command('sync')
  .description('replicate one store into another: a directory to a bucket, or a bucket back to a directory')
  .argument('<from>', 'the source store: a directory or s3://<bucket>/<prefix>')
  .argument('<to>', 'the destination store (created if new)')
  .option('-m, --machine <name...>', 'only these machines')
  .option('--dry-run', 'count what would be copied; write nothing')
  .addOption(trustSiteKeyOption())
  .option('--unverified', "copy a bucket's builds without checking their site-key signatures")
  .addHelpText(
    'after',
    `
Builds go over in the order a pull writes them (packages and packs, then their metadata,
then build.json, the build's index, the machine's state and its published views), so
clients of the destination never see a reference to a missing object. What the destination
already has is skipped without a request per object; a killed sync is completed by running
it again. Indexes and client configuration are regenerated for the destination's base URL:
give it with --base-url when the destination is new (for example the CDN in front of a bucket).
Published build, tags, kept builds and notes follow the source.

From a bucket, each build's record must carry a signature by a trusted site key (give the
publisher's public key with --trust-site-key), and every object copied is checked against the
record's digests; anything else is refused with exit 9 before it is copied. --unverified
copies without checking. From a directory, records are checked only when keys are given.

Example:
  gbp --base-url https://binhost.example.org sync /srv/gbp-store s3://binhost/gbp`,
  )
  .action(async (fromSpec: string, toSpec: string, o: { machine?: string[]; dryRun?: boolean; trustSiteKey?: string[]; unverified?: boolean }) => {
    const g = globals();
    const line = progress(!g.json && !g.quiet);
    const r = await sync(fromSpec, toSpec, {
      s3: s3Flags(g),
      baseUrl: g.baseUrl ?? process.env.GBP_BASE_URL,
      rsyncUrl: g.rsyncUrl,
      machines: o.machine,
      dryRun: o.dryRun,
      trustedSiteKeys: trustedSiteKeys(o.trustSiteKey ?? []),
      unverified: o.unverified,
      onPhase: (t) => line.update(`sync: ${t}`),
    }).finally(() => line.done());
    if (g.json) return printJson(r);
    for (const b of r.builds) print(`${o.dryRun ? 'would copy' : 'copied'} ${b.machine} ${b.id}: ${b.objects} objects (${bytes(b.bytes)}), ${b.present} already there`);
    for (const m of r.states) print(`${o.dryRun ? 'would set' : 'set'} ${m.machine}: ${m.changes.join(', ')}`);
    if (r.trust.length) print(`${o.dryRun ? 'would change' : 'changed'} trust: ${r.trust.join(', ')}`);
    print(
      `${r.builds.length} builds, ${r.objects} objects (${bytes(r.bytes)}) ${o.dryRun ? 'to copy' : `copied in ${r.seconds.toFixed(1)} s`}; ${r.present} already in ${r.to}${r.verified ? '; every record and object verified' : ''}`,
    );
  });

/** Keys and rules can be set before the first pull: the store is created for them. */
async function openKeyedStore(g: GlobalOptions): Promise<Store> {
  const store = await openOrCreateGlobalStore(g);
  await saveSite(store, await globalSite(store, g));
  return store;
}

const keysCommand = program
  .command('keys')
  .description('the signing keys this site trusts: every pulled package must be signed by one (see gbp keys policy)')
  .addHelpText(
    'after',
    `
With no key, packages are taken as they come. With keys, each GPKG's signatures are checked at
pull as Portage checks them (the signed Manifest, each member's .sig, its digests); a bad
signature is always refused (exit 3), and 'gbp keys policy' says what happens to unsigned packages
and unknown signers. Keys are kept in the store and published at <base-url>/keys/ for clients.`,
  );

keysCommand
  .command('add')
  .description('trust the public keys in FILE (an armoured export: gpg --export --armor KEYID), - for standard input')
  .argument('<file>')
  .action(async (file: string) => {
    const g = globals();
    const store = await openKeyedStore(g);
    const r = await addKeys(store, file);
    if (g.json) return printJson(r);
    for (const k of r.added) print(`added ${k.fingerprint} ${k.uids[0] ?? ''}`.trimEnd());
    for (const k of r.present) print(`already trusted ${k.fingerprint} ${k.uids[0] ?? ''}`.trimEnd());
  });

keysCommand
  .command('list')
  .description('the trusted keys, with their user ids and expiry')
  .action(async () => {
    const g = globals();
    const store = await openGlobalStore(g);
    const rows = await listKeys(store);
    if (g.json) return printJson(rows);
    if (!rows.length) return print('no trusted keys: package signatures are not checked');
    print(table(['FINGERPRINT', 'EXPIRES', 'USER ID'], rows.map((k) => [k.fingerprint, k.expires ? new Date(k.expires * 1000).toISOString().slice(0, 10) : 'never', k.uids[0] ?? ''])));
  });

keysCommand
  .command('remove')
  .description('stop trusting a key (its fingerprint, or its last 16 hex digits)')
  .argument('<fingerprint>')
  .action(async (fpr: string) => {
    const g = globals();
    const store = await openGlobalStore(g);
    const k = await removeKey(store, fpr);
    if (g.json) return printJson(k);
    print(`removed ${k.fingerprint} ${k.uids[0] ?? ''}`.trimEnd());
  });

const action = (flag: string) => (v: string) => {
  if (v !== 'refuse' && v !== 'allow' && v !== 'inherit') throw new InvalidArgumentError(`${flag} takes refuse, allow or inherit`);
  return v as 'refuse' | 'allow' | 'inherit';
};
keysCommand
  .command('policy')
  .description('what a pull does with packages the trusted keys do not vouch for, for the site or one machine')
  .option('--machine <machine>', 'set or show the rules of one machine (default: the site)')
  .addOption(new Option('--unsigned <action>', 'unsigned packages: refuse (default) or allow (published, clients told not to verify)').argParser(action('--unsigned')))
  .addOption(new Option('--unknown-key <action>', 'packages signed by an untrusted key: refuse (default) or allow').argParser(action('--unknown-key')))
  .addHelpText('after', `\nA machine's rule 'inherit' falls back to the site's. A bad signature is refused whatever the policy.`)
  .action(async (o: { machine?: string; unsigned?: 'refuse' | 'allow' | 'inherit'; unknownKey?: 'refuse' | 'allow' | 'inherit' }) => {
    const g = globals();
    const store = o.unsigned || o.unknownKey ? await openKeyedStore(g) : await openGlobalStore(g);
    const r = await trustPolicy(store, o.machine ?? null, { unsigned: o.unsigned, unknownKey: o.unknownKey });
    if (g.json) return printJson(r);
    if (!r.checking) print('no trusted keys: signatures are not checked until one is added (gbp keys add FILE)');
    const rows = [['(site)', r.site.unsigned, r.site.unknownKey], ...Object.entries(r.machines).map(([m, x]) => [m, x.unsigned, x.unknownKey])];
    print(table(['FOR', 'UNSIGNED', 'UNKNOWN KEY'], rows));
  });

const siteKeyCommand = program
  .command('site-key')
  .description('the key build records are signed with, so mirrors and exporters can tell a bucket holds what the publisher wrote')
  .addHelpText(
    'after',
    `
The publisher signs each build's record (build.json: every package's and tree's digest) with
the site secret key (--site-key FILE or GBP_SITE_KEY on gbp pull). Readers of a bucket
(gbp sync, gbp export-rsync) are given the public key and refuse records it did not sign.
The signature object is named by the key's id, so keys rotate: generate a new key, sign the
builds with it (gbp --site-key NEW site-key sign), give readers both public keys, then switch
the publisher to the new key and drop the old one from the readers.

Example:
  gbp site-key generate binhost.example.org-1 /etc/gbp/site-key
  GBP_SITE_KEY=/etc/gbp/site-key gbp pull build.tar.gz -m database -b 42 --publish
  gbp sync s3://binhost/gbp /srv/mirror --trust-site-key /etc/gbp/site-key.pub`,
  );

siteKeyCommand
  .command('generate')
  .description('make a key pair: the secret key in FILE (mode 0600), the public key in FILE.pub')
  .argument('<name>', 'a name for the key, e.g. binhost.example.org-1 (shown in messages)')
  .argument('<file>')
  .action((name: string, file: string) => {
    const g = globals();
    const r = generateKey(name, file);
    if (g.json) return printJson(r);
    print(`secret key ${r.secretFile} (keep it like a password: it is what a job signs with)`);
    print(`public key ${r.publicFile}, id ${r.id}:\n  ${r.publicKey}`);
  });

siteKeyCommand
  .command('sign')
  .description('sign recorded builds with the site key (--site-key): those it has not signed, as stored')
  .argument('[machine]')
  .argument('[builds...]')
  .action(async (machine: string | undefined, ids: string[]) => {
    const g = globals();
    const key = siteSecretKey(g);
    if (!key) throw new GbpError('usage', '--site-key', 'give the site secret key to sign with (--site-key FILE or GBP_SITE_KEY)');
    const r = await signBuilds(await openGlobalStore(g), key, machine, ids);
    if (g.json) return printJson(r);
    for (const row of r.rows) if (row.status === 'signed') print(`signed ${row.machine} ${row.id}${row.reason ? ` (${row.reason})` : ''}`);
    const signed = r.rows.filter((x) => x.status === 'signed').length;
    print(`${signed} builds signed with ${r.key}, ${r.rows.length - signed} signed already`);
  });

siteKeyCommand
  .command('verify')
  .description("check every recorded build's signature against trusted site public keys, as sync and export-rsync do")
  .argument('[machine]')
  .addOption(trustSiteKeyOption())
  .action(async (machine: string | undefined, o: { trustSiteKey?: string[] }) => {
    const g = globals();
    const rows = await verifyBuilds(await openGlobalStore(g), trustedSiteKeys(o.trustSiteKey ?? []), machine);
    const failing = rows.filter((r) => r.status !== 'good');
    if (g.json) printJson(rows);
    else {
      for (const r of failing) print(`${r.status === 'unsigned' ? 'UNSIGNED' : 'BAD     '} ${r.machine} ${r.id}${r.reason ? `: ${r.reason}` : ''}`);
      print(`${rows.length} builds: ${rows.length - failing.length} signed by a trusted site key, ${failing.length} not`);
    }
    if (failing.length) throw new GbpError('untrusted', 'site-key verify', `${failing.length} builds not signed by a trusted site key`, true);
  });

program
  .command('client-config')
  .description("what a machine puts in /etc/portage: binrepos.conf and repos.conf for its published build (or a tag)")
  .argument('<machine>')
  .option('--tag <tag>', 'the configuration for a tagged build instead')
  .action(async (machine: string, o: { tag?: string }) => {
    const g = globals();
    const store = await openGlobalStore(g);
    const site = await globalSite(store, g);
    const r = await clientConfig(store, site, machine, o.tag);
    if (g.json) return printJson(r);
    print(`${r.trustSteps.length ? `${r.trustSteps.join('\n')}\n\n` : ''}# ${r.binreposPath}\n${r.binrepos}\n# ${r.reposPath}\n${r.repos}`);
  });

program
  .command('serve')
  .description('serve the store over HTTP (for clients: binrepos.conf sync-uri points here)')
  .addOption(new Option('--port <port>', 'port (0: any free one)').default(8080).argParser(integer('--port', 0, 65535)))
  .option('--bind <address>', 'address to listen on', '127.0.0.1')
  .addOption(new Option('--workers <n>', 'processes sharing the port (like nginx worker_processes)').default(availableParallelism()).argParser(integer('--workers', 1, 1024)))
  .addHelpText(
    'after',
    `
Answers as Portage needs: Packages.gz without Content-Encoding, Last-Modified = TIMESTAMP,
304 on If-Modified-Since/If-None-Match, byte ranges, 404 (never 403) for what is not there.
For a larger site, serve the same directory with nginx or the bucket through a CDN.`,
  )
  .action(async (o: { port: number; bind: string; workers: number }) => {
    const g = globals();
    const store = await openGlobalStore(g);
    if (!(store instanceof FsStore)) throw new GbpError('usage', '--store', 'gbp serve serves a local store directory');
    await runServer(store.root, {
      port: o.port,
      bind: o.bind,
      workers: o.workers,
      onListening: (url, workers) => {
        if (g.json) printJson({ url, store: store.root, workers });
        else print(`serving ${store.root} at ${url}/${workers > 1 ? ` with ${workers} workers` : ''} (Ctrl-C to stop)`);
      },
    });
  });

program
  .command('export-rsync')
  .description('materialise the published trees for an rsync daemon (emerge --sync), atomically switched')
  .requiredOption('--dest <dir>', 'export directory; gets repos/, etc-portage/, var-lib-portage/ and rsyncd.conf')
  .option('--watch', 'keep exporting as builds are published')
  .option('--dry-run', 'say what each tree would get (created, updated, removed; files added, changed, removed), write nothing')
  .addOption(new Option('--interval <seconds>', 'with --watch: how often to look').default(5).argParser(integer('--interval', 1)))
  .addOption(new Option('--grace <duration>', 'keep a replaced tree this long for transfers still reading it').default(3600).argParser(duration('--grace')))
  .addOption(trustSiteKeyOption())
  .option('--unverified', "export a bucket's builds without checking their site-key signatures")
  .addHelpText(
    'after',
    `
Clients point repos.conf at rsync://<host>/repos/<machine>/<repo> (or <machine>@<tag>).
Start the daemon with: rsync --daemon --config=<dest>/rsyncd.conf
A file whose content did not change keeps its mtime from the previous export, so
clients' rsync (size + mtime, no checksums) transfers only what changed.
From a bucket, each published build's record must carry a signature by a trusted site key
(--trust-site-key), and every tree and file is checked against its digests (exit 9 otherwise).`,
  )
  .action(async (o: { dest: string; watch?: boolean; dryRun?: boolean; interval: number; grace: number; trustSiteKey?: string[]; unverified?: boolean }) => {
    const g = globals();
    const store = await openGlobalStore(g);
    const reader = recordReaderFor(store, trustedSiteKeys(o.trustSiteKey ?? []), !!o.unverified);
    const report = (r: ExportResult) => {
      if (g.json) return printJson(r);
      const changed = r.targets.filter((t) => t.status !== 'unchanged');
      if (!changed.length) return print(`${r.dest}: up to date (${r.targets.length} trees)`);
      for (const t of changed) {
        const status = r.dryRun ? `would be ${t.status}` : t.status;
        const what = t.status === 'removed' ? status : `${status} from ${t.machine} ${t.build} (+${t.added} ~${t.changed} -${t.removed})`;
        print(`${t.module}/${t.link}: ${what}`);
      }
      if (!r.dryRun) print(`config: ${r.config}`);
    };
    const controller = new AbortController();
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => controller.abort());
    const line = progress(!g.json && !g.quiet);
    const r = await exportCommand(store, {
      dest: o.dest,
      graceSeconds: o.grace,
      dryRun: o.dryRun,
      reader,
      onProgress: (t) => line.update(`export: ${t}`),
      watch: o.watch ? { intervalSeconds: o.interval, onExport: report, signal: controller.signal } : undefined,
    });
    line.done();
    if (!o.watch) report(r);
  });

registerHooksCommands();
registerJenkinsCommands();

/** Every command's parse errors come back here (commander would exit 1 from a subcommand). */
function overrideExits(cmd: Command): void {
  cmd.exitOverride();
  for (const sub of cmd.commands) overrideExits(sub);
}

/**
 * A system call that failed on a path (EACCES, ENOSPC, EROFS, ENOTDIR, EIO...) is the machine's
 * state, not a bug: a store or destination error (exit 6) with the path and the reason.
 */
function asStoreError(err: unknown): unknown {
  const e = err as NodeJS.ErrnoException;
  if (err instanceof GbpError || !e || typeof e.code !== 'string' || !/^E[A-Z0-9]+$/.test(e.code) || !e.syscall) return err;
  const what: Record<string, string> = { ENOSPC: 'no space left on the device', EDQUOT: 'disk quota exceeded', EACCES: 'permission denied', EPERM: 'operation not permitted', EROFS: 'read-only file system', ENOTDIR: 'a path component is not a directory', EEXIST: 'exists already (and is not what gbp expects)', EISDIR: 'is a directory' };
  return new GbpError('store', e.path ?? e.syscall, `${what[e.code] ?? e.message} (${e.code} in ${e.syscall})`);
}

/** A 4 KB member name is named by its two ends. */
const shorten = (text: string) => (text.length > 600 ? `${text.slice(0, 200)}…(${text.length - 400} characters)…${text.slice(-200)}` : text);

/** Control characters from archive names or URLs never reach the terminal raw. */
const printable = (text: string) => shorten(text).replace(/[\x00-\x08\x0b-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

async function run(): Promise<number> {
  overrideExits(program);
  // The AWS SDK announces its own future Node.js requirement on every run: not the user's concern
  // in a CI log. Every other warning is printed as Node.js would.
  process.removeAllListeners('warning');
  process.on('warning', (w) => {
    if (w.name !== 'NodeVersionSupportWarning') process.stderr.write(`gbp: warning: ${w.name}: ${w.message}\n`);
  });
  // `gbp list | head -1`: a reader that went away is not an error of ours
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  });
  const json = process.argv.includes('--json');
  // the version as text, or with --json as a document like every other answer; then nothing else runs
  program.on('option:version', () => {
    const version = gbpVersion();
    if (json) printJson({ version });
    else print(version);
    throw new CommanderError(0, 'commander.version', version);
  });
  try {
    await program.parseAsync(process.argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version are not failures; commander already printed the message
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help' || err.exitCode === 0) return 0;
      if (json) printJson({ error: { code: 'usage', subject: '', reason: err.message.replace(/^error: /, ''), exitCode: 2 } });
      return 2;
    }
    err = asStoreError(err);
    const code = exitCodeFor(err);
    if (err instanceof GbpError && err.reported) return code;
    if (err instanceof GbpError) {
      if (json) printJson({ error: { code: err.code, subject: err.subject, reason: err.reason, exitCode: code } });
      process.stderr.write(`gbp: error: ${printable(err.message)}\n`);
    } else {
      if (json) printJson({ error: { code: 'internal', subject: '', reason: String(err), exitCode: code } });
      process.stderr.write(`gbp: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    }
    return code;
  }
}

run().then((code) => {
  process.exitCode = code;
  if (cluster.isWorker) process.exit(code); // the IPC channel to the primary would keep it alive
});
