/** `gbp jenkins add-machine` and `gbp jenkins build`: Jenkins, the other way round from gbp pull. */
import { Option } from 'commander';
import { GbpError } from '../errors.js';
import { addMachine, buildMachine } from '../commands/jenkins.js';
import type { JenkinsCredentials } from '../jenkins/client.js';
import { globals, print, printJson, program } from './context.js';
import { integer } from './option-values.js';

/** --jenkins-url, else GBP_JENKINS_URL, else JENKINS_URL (set inside Jenkins jobs); the API token from the environment. */
function credentials(url: string | undefined): JenkinsCredentials {
  const given = url ?? process.env.GBP_JENKINS_URL ?? process.env.JENKINS_URL;
  if (!given) throw new GbpError('usage', '--jenkins-url', 'say which Jenkins: --jenkins-url URL or GBP_JENKINS_URL');
  return {
    url: given,
    user: process.env.GBP_JENKINS_USER ?? process.env.GBP_HTTP_USER,
    token: process.env.GBP_JENKINS_TOKEN ?? process.env.GBP_HTTP_TOKEN,
  };
}

const urlOption = () => new Option('--jenkins-url <url>', 'the Jenkins root URL (env GBP_JENKINS_URL, or JENKINS_URL inside a job)');
const folderOption = () => new Option('--folder <path>', 'the Jenkins folder the machine jobs are in (e.g. gentoo)');

export function registerJenkinsCommands(): void {
  const jenkins = program
    .command('jenkins')
    .description("create a machine's Jenkins job, and build it, over Jenkins' REST API")
    .addHelpText(
      'after',
      `
Credentials: an API token (Jenkins: your user → Security → API Token) in GBP_JENKINS_USER
and GBP_JENKINS_TOKEN (else GBP_HTTP_USER and GBP_HTTP_TOKEN, which gbp pull uses for artifacts).

Example:
  export GBP_JENKINS_URL=https://jenkins.example.org GBP_JENKINS_USER=admin GBP_JENKINS_TOKEN=…
  gbp jenkins add-machine database --repo https://git.example.org/machines.git --branch main
  gbp jenkins build database --wait 60`,
    );

  jenkins
    .command('add-machine')
    .description("create the machine's job: check its repository out, run the build, and on success gbp pull … --publish")
    .argument('<machine>', 'the machine, which is also the job name')
    .requiredOption('--repo <url>', "the git repository the machine's build lives in")
    .option('--branch <branch>', 'the branch to build', 'master')
    .addOption(folderOption())
    .option('--build-command <cmd>', 'what the job runs in the checkout to pack the archive (default: make archive machine=<machine>)')
    .option('--archive <path>', 'the archive the build leaves, relative to the checkout', 'build.tar.gz')
    .option('--no-publish', 'pull without publishing (publish by hand with gbp publish)')
    .option('--poll <cron>', "how often Jenkins looks for new commits ('' for never)", 'H/15 * * * *')
    .option('--template <config.xml>', 'your own job configuration, with @MACHINE@, @REPO@, @BRANCH@, @BUILD_COMMAND@, @ARCHIVE@, @PULL@')
    .option('--update', "replace the job's configuration if the job exists")
    .option('--dry-run', 'print the job configuration, send nothing')
    .addOption(urlOption())
    .addHelpText(
      'after',
      `
The job is a Pipeline (README "Jenkins" shows its script). The agent that runs it needs gbp
and the store's settings in its environment: GBP_STORE, GBP_BASE_URL, and GBP_SITE_KEY if
records are signed.`,
    )
    .action(async (machine: string, o: { repo: string; branch: string; folder?: string; buildCommand?: string; archive: string; publish: boolean; poll: string; template?: string; update?: boolean; dryRun?: boolean; jenkinsUrl?: string }) => {
      const g = globals();
      const creds = o.dryRun ? { url: o.jenkinsUrl ?? process.env.GBP_JENKINS_URL ?? process.env.JENKINS_URL ?? 'http://jenkins.invalid' } : credentials(o.jenkinsUrl);
      const r = await addMachine(creds, machine, o);
      if (g.json) return printJson(r);
      if (r.status === 'dry-run') return void process.stdout.write(r.config!);
      print(`${r.status} Jenkins job ${r.job}: ${r.url}`);
      print(`  gbp jenkins build ${machine}${o.folder ? ` --folder ${o.folder}` : ''} starts its first build`);
    });

  jenkins
    .command('build')
    .description("schedule a build of the machine's job")
    .argument('<machine>')
    .addOption(folderOption())
    .addOption(new Option('--wait <seconds>', 'wait this long for Jenkins to start it, and name the build').argParser(integer('--wait', 0, 3600)))
    .addOption(urlOption())
    .action(async (machine: string, o: { folder?: string; wait?: number; jenkinsUrl?: string }) => {
      const g = globals();
      const r = await buildMachine(credentials(o.jenkinsUrl), machine, { folder: o.folder, waitSeconds: o.wait });
      if (g.json) return printJson(r);
      if (r.number !== null) print(`${r.job}: build #${r.number} started: ${r.buildUrl}`);
      else print(`${r.job}: queued ${r.queueUrl}${o.wait ? ` (not started within ${o.wait} s)` : ''}`);
    });

}
