/**
 * Just enough of Jenkins' REST API for `gbp jenkins`: create or update a job from config.xml,
 * schedule a build and follow its queue item to the build it became. Authenticates with an API
 * token (Basic auth) and sends the CSRF crumb with every POST, with the session cookie the crumb
 * is bound to (Jenkins ≥ 2.176 ties them); a Jenkins without a crumb issuer needs none.
 */
import { GbpError } from '../errors.js';

export interface JenkinsCredentials {
  url: string;
  user?: string;
  token?: string;
}

export interface QueuedBuild {
  queueUrl: string;
  /** Known once Jenkins started it. */
  number: number | null;
  buildUrl: string | null;
}

/** A job's path under Jenkins' root: /job/<folder>/job/<name> for each segment of `folder/name`. */
export function jobPath(fullName: string): string {
  return fullName
    .split('/')
    .map((s) => `/job/${encodeURIComponent(s)}`)
    .join('');
}

export class JenkinsClient {
  private readonly root: string;
  private crumb: { field: string; value: string; cookie: string | null } | null | undefined;

  constructor(private readonly creds: JenkinsCredentials) {
    let u: URL;
    try {
      u = new URL(creds.url);
    } catch {
      throw new GbpError('usage', '--jenkins-url', `'${creds.url}' is not an absolute URL`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new GbpError('usage', '--jenkins-url', `'${creds.url}' must be an http:// or https:// URL`);
    this.root = u.toString().replace(/\/+$/, '');
  }

  /** Whether the job exists (its JSON API answers). */
  async jobExists(fullName: string): Promise<boolean> {
    const res = await this.send('GET', `${jobPath(fullName)}/api/json?tree=name`);
    if (res.status === 404) return false;
    await this.ensureOk(res, `${fullName}: cannot look the job up`);
    return true;
  }

  async createJob(fullName: string, configXml: string): Promise<void> {
    const slash = fullName.lastIndexOf('/');
    const parent = slash < 0 ? '' : jobPath(fullName.slice(0, slash));
    const name = fullName.slice(slash + 1);
    const res = await this.send('POST', `${parent}/createItem?name=${encodeURIComponent(name)}`, configXml, 'application/xml');
    if (res.status === 404 && parent) throw new GbpError('not-found', fullName.slice(0, slash), `Jenkins at ${this.root} has no such folder (create it first, or leave --folder out)`);
    await this.ensureOk(res, `${fullName}: Jenkins did not create the job`);
  }

  async updateJob(fullName: string, configXml: string): Promise<void> {
    const res = await this.send('POST', `${jobPath(fullName)}/config.xml`, configXml, 'application/xml');
    await this.ensureOk(res, `${fullName}: Jenkins did not take the new configuration`);
  }

  /** Schedules a build; Jenkins answers with its queue item (201, Location). */
  async build(fullName: string): Promise<QueuedBuild> {
    const res = await this.send('POST', `${jobPath(fullName)}/build?delay=0sec`);
    if (res.status === 404) throw new GbpError('not-found', fullName, `Jenkins at ${this.root} has no such job (gbp jenkins add-machine creates it)`);
    await this.ensureOk(res, `${fullName}: Jenkins did not schedule a build`);
    const location = res.headers.get('location');
    if (!location) throw new GbpError('input', fullName, 'Jenkins scheduled the build but named no queue item (no Location header)');
    return { queueUrl: new URL(location, `${this.root}/`).toString(), number: null, buildUrl: null };
  }

  /** Follows a queue item until Jenkins starts its build or `timeoutMs` passes (then number is null). */
  async waitForStart(queued: QueuedBuild, timeoutMs: number, pollMs = 1000): Promise<QueuedBuild> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      // the queue item is under the root we were given (credentials never go elsewhere)
      if (!queued.queueUrl.startsWith(`${this.root}/`)) throw new GbpError('input', queued.queueUrl, `the queue item is not under ${this.root}: not following it`);
      const res = await this.send('GET', `${queued.queueUrl.slice(this.root.length).replace(/\/?$/, '/')}api/json`);
      await this.ensureOk(res, `${queued.queueUrl}: cannot read the queue item`);
      const item = (await res.json()) as { cancelled?: boolean; why?: string; executable?: { number: number; url: string } | null };
      if (item.cancelled) throw new GbpError('input', queued.queueUrl, 'the queued build was cancelled in Jenkins');
      if (item.executable) return { ...queued, number: item.executable.number, buildUrl: item.executable.url };
      if (Date.now() + pollMs > until) return queued;
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  private authHeader(): Record<string, string> {
    const { user, token } = this.creds;
    return user && token ? { authorization: `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}` } : {};
  }

  /** The crumb, asked for once; none when Jenkins has CSRF protection off (no issuer). */
  private async crumbHeaders(): Promise<Record<string, string>> {
    if (this.crumb === undefined) {
      const res = await this.raw('GET', '/crumbIssuer/api/json', this.authHeader());
      if (res.status === 404) {
        await res.body?.cancel();
        this.crumb = null;
      } else {
        await this.ensureOk(res, 'cannot get a CSRF crumb');
        const j = (await res.json()) as { crumb?: string; crumbRequestField?: string };
        if (!j.crumb || !j.crumbRequestField) throw new GbpError('input', `${this.root}/crumbIssuer/api/json`, 'answered without a crumb');
        const cookie = res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ') || null;
        this.crumb = { field: j.crumbRequestField, value: j.crumb, cookie };
      }
    }
    if (!this.crumb) return {};
    return { [this.crumb.field]: this.crumb.value, ...(this.crumb.cookie ? { cookie: this.crumb.cookie } : {}) };
  }

  private async send(method: 'GET' | 'POST', path: string, body?: string, contentType?: string): Promise<Response> {
    const headers = { ...this.authHeader(), ...(method === 'POST' ? await this.crumbHeaders() : {}), ...(contentType ? { 'content-type': contentType } : {}) };
    return this.raw(method, path, headers, body);
  }

  private async raw(method: string, path: string, headers: Record<string, string>, body?: string): Promise<Response> {
    try {
      return await fetch(`${this.root}${path}`, { method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(30_000) });
    } catch (err) {
      const e = err as Error & { cause?: Error };
      throw new GbpError('input', this.root, `cannot reach Jenkins: ${e.name === 'TimeoutError' ? 'no answer in 30 s' : (e.cause?.message ?? e.message)}`);
    }
  }

  private async ensureOk(res: Response, what: string): Promise<void> {
    if (res.status >= 200 && res.status < 300) return;
    // Jenkins names the problem in X-Error (createItem) or the page's text
    const detail = res.headers.get('x-error') ?? (await res.text().catch(() => '')).replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 200);
    if (res.status === 401 || res.status === 403) {
      throw new GbpError('input', what, `HTTP ${res.status}: Jenkins refused our credentials (set GBP_JENKINS_USER and GBP_JENKINS_TOKEN, an API token)${detail ? `: ${detail}` : ''}`);
    }
    if (res.status >= 300 && res.status < 400) throw new GbpError('input', what, `HTTP ${res.status}: Jenkins redirected to ${res.headers.get('location')} (is --jenkins-url the root Jenkins serves at?)`);
    throw new GbpError('input', what, `HTTP ${res.status}${detail ? `: ${detail}` : ''}`);
  }
}
