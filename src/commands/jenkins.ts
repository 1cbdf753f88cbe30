/**
 * `gbp jenkins add-machine` and `gbp jenkins build`: stand a new machine up by naming it, and
 * build it, over Jenkins' REST API (jenkins/client.ts). The job is named after the machine,
 * optionally inside a Jenkins folder.
 */
import { readFileSync } from 'node:fs';
import { GbpError } from '../errors.js';
import { assertName } from '../records/names.js';
import { JenkinsClient, jobPath, type JenkinsCredentials, type QueuedBuild } from '../jenkins/client.js';
import { checkSettings, defaultBuildCommand, fromTemplate, jobConfig, type JobSettings } from '../jenkins/job-template.js';

export interface AddMachineOptions {
  repo: string;
  branch?: string;
  folder?: string;
  buildCommand?: string;
  archive?: string;
  publish?: boolean;
  poll?: string;
  /** A config.xml of the site's own, with @MACHINE@ and the other placeholders. */
  template?: string;
  /** Replace the configuration of a job that exists (else that is refused). */
  update?: boolean;
  /** Print the configuration, send nothing. */
  dryRun?: boolean;
}

export interface AddMachineResult {
  machine: string;
  job: string;
  url: string;
  status: 'created' | 'updated' | 'dry-run';
  config?: string;
}

/** Folder names as Jenkins allows them, never `.` or `..`. */
const isFolderPath = (folder: string) =>
  folder
    .replace(/^\/+|\/+$/g, '')
    .split('/')
    .every((segment) => /^[A-Za-z0-9._-]+$/.test(segment) && segment !== '.' && segment !== '..');

const fullName = (machine: string, folder?: string) => (folder ? `${folder.replace(/^\/+|\/+$/g, '')}/${machine}` : machine);

export async function addMachine(creds: JenkinsCredentials, machine: string, o: AddMachineOptions): Promise<AddMachineResult> {
  assertName('machine name', machine);
  if (o.folder !== undefined && !isFolderPath(o.folder)) throw new GbpError('usage', '--folder', `'${o.folder}' is not a Jenkins folder path`);
  const settings: JobSettings = {
    machine,
    repo: o.repo,
    branch: o.branch ?? 'master',
    buildCommand: o.buildCommand ?? defaultBuildCommand(machine),
    archive: o.archive ?? 'build.tar.gz',
    publish: o.publish ?? true,
    poll: o.poll ?? 'H/15 * * * *',
  };
  checkSettings(settings);
  let config: string;
  if (o.template) {
    let text: string;
    try {
      text = readFileSync(o.template, 'utf8');
    } catch (err) {
      throw new GbpError('input', o.template, `cannot read the template: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    config = fromTemplate(text, settings);
  } else config = jobConfig(settings);
  const job = fullName(machine, o.folder);
  const client = new JenkinsClient(creds);
  const url = `${creds.url.replace(/\/+$/, '')}${jobPath(job)}/`;
  if (o.dryRun) return { machine, job, url, status: 'dry-run', config };
  if (await client.jobExists(job)) {
    if (!o.update) throw new GbpError('conflict', job, `Jenkins has this job already (${url}); --update replaces its configuration`);
    await client.updateJob(job, config);
    return { machine, job, url, status: 'updated' };
  }
  await client.createJob(job, config);
  return { machine, job, url, status: 'created' };
}

export async function buildMachine(creds: JenkinsCredentials, machine: string, o: { folder?: string; waitSeconds?: number } = {}): Promise<QueuedBuild & { machine: string; job: string }> {
  assertName('machine name', machine);
  if (o.folder !== undefined && !isFolderPath(o.folder)) throw new GbpError('usage', '--folder', `'${o.folder}' is not a Jenkins folder path`);
  const job = fullName(machine, o.folder);
  const client = new JenkinsClient(creds);
  let queued = await client.build(job);
  if (o.waitSeconds) queued = await client.waitForStart(queued, o.waitSeconds * 1000);
  return { machine, job, ...queued };
}
