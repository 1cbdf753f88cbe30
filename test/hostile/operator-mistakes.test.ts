/**
 * Operator mistakes and a hostile machine: each gets its documented exit code, a one-line reason
 * (never a stack trace), a JSON error under --json, and changes nothing. Named after the incidents
 * found by trying the tool as a new user would.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clientReads } from '../helpers/client.js';
import { GBP, gbp, snapshot, tempDir } from '../helpers/cli.js';
import { archiveMembers, tgz } from '../helpers/fixture-archive.js';
import { BUILD1, BUILD2, twoBuilds } from '../helpers/stores.js';
import { startServe } from '../helpers/serve.js';


const oneLine = (stderr: string) => {
  expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
  expect(stderr).toMatch(/^gbp: error: /m);
};

describe('usage errors: exit 2, a JSON error under --json, nothing changed', () => {
  const cases: [string, string[], RegExp][] = [
    ['purge --keep-last abc (it once planned as if given 0 and purged builds)', ['purge', '--keep-last', 'abc'], /--keep-last: 'abc' is not a whole number/],
    ['purge --keep-last -3', ['purge', '--keep-last', '-3'], /--keep-last|unknown option/],
    ['purge --max-age soon', ['purge', '--max-age', 'soon'], /--max-age: 'soon' is not a duration/],
    ['gc --grace 1x', ['gc', '--grace', '1x'], /--grace: '1x' is not a duration/],
    ['pull --max-size lots', ['pull', BUILD1, '-m', 'web', '-b', '3', '--max-size', 'lots'], /--max-size: 'lots' is not a size/],
    ['serve --port 99999', ['serve', '--port', '99999'], /--port: '99999' is not a whole number from 0 to 65535/],
    ['an unknown option of a subcommand', ['purge', '--bogus'], /unknown option '--bogus'/],
    ['a missing argument of a subcommand', ['publish'], /missing required argument/],
    ['an unknown command', ['frobnicate'], /unknown command/],
    ['an invalid machine name', ['publish', '../etc', '1'], /invalid machine name/],
  ];
  it.each(cases)('%s', async (_name, args, reason) => {
    const { store, g } = await twoBuilds();
    const before = snapshot(store);
    const r = await g('--json', ...args);
    expect(r.code, r.stderr).toBe(2);
    expect(r.json().error).toMatchObject({ code: 'usage', exitCode: 2 });
    expect(`${r.stderr}${r.json().error.reason}`).toMatch(reason);
    expect(snapshot(store)).toEqual(before);
  });
});

describe('the store must be there, and be a store', () => {
  it('a typo in --store is "not found" (exit 5) for every command but pull, and creates nothing', async () => {
    const dir = tempDir();
    const typo = join(dir, 'gbp-stroe');
    for (const args of [['fsck'], ['list'], ['gc'], ['purge'], ['serve', '--port', '0'], ['export-rsync', '--dest', join(dir, 'x')]]) {
      const r = await gbp(['--store', typo, ...args]);
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(5);
      expect(r.stderr).toMatch(/no store here/);
      oneLine(r.stderr);
    }
    expect(snapshot(dir)).toEqual({});
  });

  it('a store path that is a file, or that cannot be written: exit 6 with the path', async () => {
    const dir = tempDir();
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'file'), 'x');
    const onFile = await gbp(['--store', join(dir, 'file'), 'pull', BUILD1, '-m', 'web', '-b', '1']);
    expect(onFile.code).toBe(6);
    expect(onFile.stderr).toMatch(/not a directory/);
    oneLine(onFile.stderr);
    // root may write anywhere, except below a read-only mount (running as another user would
    // depend on whether that user can read this checkout's path)
    const ro = join(dir, 'ro');
    mkdirSync(ro);
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro]).status, 'tests run as root and may mount a tmpfs').toBe(0);
    try {
      const readOnly = await gbp(['--store', join(ro, 'store'), 'pull', BUILD1, '-m', 'web', '-b', '1']);
      expect(readOnly.code, readOnly.stderr).toBe(6);
      expect(readOnly.stderr).toMatch(/read-only file system/);
      expect(readOnly.stderr).toContain(join(ro, 'store'));
      oneLine(readOnly.stderr);
    } finally {
      spawnSync('umount', [ro]);
    }
  });

  it('a full disk: exit 6, nothing half-visible, and the re-run after freeing space completes', async () => {
    const mnt = tempDir('gbp-full-');
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt]).status, 'tests run as root and may mount a tmpfs').toBe(0);
    try {
      const store = join(mnt, 'store');
      expect((await gbp(['--store', store, 'pull', BUILD1, '-m', 'web', '-b', '1', '--publish'])).code).toBe(0);
      const filler = join(mnt, 'filler');
      spawnSync('sh', ['-c', `head -c 8M /dev/zero > ${filler}`]); // fills the rest, and fails at the end
      const full = await gbp(['--store', store, 'pull', BUILD2, '-m', 'web', '-b', '2', '--publish']);
      expect(full.code, full.stderr).toBe(6);
      expect(full.stderr).toMatch(/no space left on the device/);
      oneLine(full.stderr);
      rmSync(filler);
      expect(clientReads(store, 'machines/web/binpkgs', 'http://localhost:8080').entries).toHaveLength(5); // still build 1
      const again = await gbp(['--store', store, 'pull', BUILD2, '-m', 'web', '-b', '2', '--publish']);
      expect(again.code, again.stderr).toBe(0);
      expect((await gbp(['--store', store, 'fsck'])).code).toBe(0);
    } finally {
      spawnSync('umount', [mnt]);
    }
  });
});

describe('gbp serve', () => {
  it('on a port in use: exit 2 with the reason, never "serving" and a hang', async () => {
    const { store } = await twoBuilds();
    const taken = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => taken.once('listening', r));
    const port = String((taken.address() as { port: number }).port);
    try {
      for (const workers of ['1', '2']) {
        const child = spawn(process.execPath, [GBP, '--store', store, 'serve', '--port', port, '--workers', workers], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (err += d));
        const code = await new Promise<number | null>((r) => {
          const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
          child.on('exit', (c) => (clearTimeout(timer), r(c)));
        });
        expect(code, `workers ${workers}: ${err}`).toBe(2);
        expect(out).not.toMatch(/serving/);
        expect(err).toMatch(/the port is in use/);
      }
    } finally {
      taken.close();
    }
  });

  it('answers the URL that pull and publish print for the published index', async () => {
    const store = tempDir();
    const r = await gbp(['--store', store, 'pull', BUILD1, '-m', 'web', '-b', '1', '--publish']);
    const printed = /published (\S+)/.exec(r.stdout)![1];
    const { child, url } = await startServe(store);
    try {
      const res = await fetch(printed.replace('http://localhost:8080', url));
      expect(res.status).toBe(200);
      expect(await res.text()).toMatch(/href="Packages\.gz"/);
    } finally {
      child.kill();
    }
  });
});

describe('the base URL', () => {
  it('is not changed in passing (other machines kept the old one); fsck --repair moves the whole store', async () => {
    const { store, g } = await twoBuilds();
    expect((await g('pull', BUILD1, '-m', 'mail', '-b', '1', '--publish')).code).toBe(0);
    const before = snapshot(store);
    const r = await g('--base-url', 'https://binhost.example.org', 'pull', BUILD2, '-m', 'mail', '-b', '2', '--publish');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/served at http:\/\/localhost:8080.*fsck --repair/);
    expect(snapshot(store)).toEqual(before);
    const moved = await g('--base-url', 'https://binhost.example.org', 'fsck', '--repair');
    expect(moved.code, moved.stdout).toBe(0);
    for (const m of ['web', 'mail']) expect(clientReads(store, `machines/${m}/binpkgs`, 'https://binhost.example.org').header.URI).toBe('https://binhost.example.org/blobs');
    expect(clientReads(store, 'builds/web/1/binpkgs', 'https://binhost.example.org').entries).toHaveLength(5);
    expect((await g('fsck')).code).toBe(0);
  });
});

describe('what an archive names is shown, not obeyed', () => {
  it('control characters in a member name are escaped in the message', async () => {
    const members = await archiveMembers(BUILD1);
    members.push({ path: 'repos/test_repo/\x1b]0;pwned\x07\x1b[2J', data: 'x' });
    const file = join(tempDir(), 'bad.tar.gz');
    writeFileSync(file, tgz(members));
    const r = await gbp(['--store', tempDir(), 'pull', file, '-m', 'web', '-b', '1']);
    expect(r.code).toBe(3);
    expect(r.stderr).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
    expect(r.stderr).toContain('\\x1b');
  });
});

describe('a next build whose only new content is one empty file', () => {
  it('keeps its (empty) pack: fsck is clean and export-rsync works (it once failed for every machine)', async () => {
    const store = tempDir();
    const members = await archiveMembers(BUILD1);
    const file1 = join(tempDir(), 'b1.tar.gz');
    writeFileSync(file1, tgz(members));
    const file2 = join(tempDir(), 'b2.tar.gz');
    writeFileSync(file2, tgz([...members, { path: 'repos/test_repo/EMPTY', data: '' }]));
    expect((await gbp(['--store', store, 'pull', file1, '-m', 'web', '-b', '1', '--publish'])).code).toBe(0);
    expect((await gbp(['--store', store, 'pull', file2, '-m', 'web', '-b', '2', '--publish'])).code).toBe(0);
    const fsck = await gbp(['--store', store, 'fsck']);
    expect(fsck.code, fsck.stdout).toBe(0);
    const dest = join(tempDir(), 'export');
    const ex = await gbp(['--store', store, 'export-rsync', '--dest', dest]);
    expect(ex.code, ex.stderr).toBe(0);
  });
});

describe('names that mean something to JavaScript, and files planted in a store', () => {
  it('a tag or build id called constructor or toString is only a name', async () => {
    const { store, g } = await twoBuilds();
    expect((await g('tag', 'web', '1', 'constructor')).code).toBe(0);
    expect((await g('--json', 'list', 'web')).json()).toMatchObject([{ id: '2' }, { id: '1', tags: ['constructor'] }]);
    const pub = await g('publish', 'web', '@constructor');
    expect(pub.code, pub.stderr).toBe(0);
    expect(clientReads(store, 'machines/web/binpkgs', 'http://localhost:8080').entries).toHaveLength(5);
    const missing = await g('publish', 'web', '@toString'); // no such tag, whatever Object.prototype has
    expect(missing.code, missing.stderr).toBe(5);
    expect((await g('pull', BUILD2, '-m', 'web', '-b', 'hasOwnProperty', '--note', 'n')).code).toBe(0);
    expect((await g('--json', 'list', 'web')).json().find((b: { id: string }) => b.id === 'hasOwnProperty')).toMatchObject({ note: 'n' });
  });

  it('a damaged or planted state.json is a store error naming it (exit 6), not a crash', async () => {
    const { store, g } = await twoBuilds();
    writeFileSync(join(store, 'machines/web/state.json'), '{"format": 1, "builds": "all of them"}');
    for (const args of [['list', 'web'], ['publish', 'web', '1'], ['gc'], ['fsck']]) {
      const r = await g(...args);
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(6);
      expect(r.stderr).toMatch(/machines\/web\/state\.json: is not a machine state record/);
      oneLine(r.stderr);
    }
    writeFileSync(join(store, 'builds/web/2/build.json'), 'not json');
    writeFileSync(join(store, 'machines/web/state.json'), JSON.stringify({ format: 1, machine: 'web', builds: [{ id: '2', added: 1 }], published: '2', tags: {}, kept: [], notes: {} }));
    const show = await g('show', 'web', '2');
    expect(show.code, show.stderr).toBe(6);
    expect(show.stderr).toMatch(/builds\/web\/2\/build\.json: is not valid JSON/);
  });
});

describe('output into a pipe that closes early', () => {
  it('gbp client-config … | true ends quietly with exit 0, without a stack trace', async () => {
    const { store } = await twoBuilds();
    // `true` exits without reading, so gbp's first write meets a closed pipe (EPIPE)
    const r = spawnSync('bash', ['-o', 'pipefail', '-c', `"${process.execPath}" "${GBP}" --store "${store}" client-config web | true`], { encoding: 'utf8' });
    expect(r.stderr).not.toMatch(/EPIPE|\n\s+at /);
    expect(r.status).toBe(0);
  });
});
