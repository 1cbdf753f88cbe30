/**
 * The Jenkins job `gbp jenkins add-machine` creates: a Pipeline that checks the machine's
 * repository out, runs its build (which packs the build archive) and, on success only, ends with
 * `gbp pull … --publish`, so a failed build never reaches clients. README "Jenkins" shows it.
 * A site with its own conventions gives its own config.xml (--template) with @MACHINE@, @REPO@,
 * @BRANCH@, @BUILD_COMMAND@, @ARCHIVE@ and @PULL@ in it, each replaced XML-escaped.
 */
import { GbpError } from '../errors.js';

export interface JobSettings {
  machine: string;
  repo: string;
  branch: string;
  /** What the checkout runs to produce the archive. */
  buildCommand: string;
  archive: string;
  publish: boolean;
  /** How often Jenkins looks at the repository for changes (cron syntax; '' for never). */
  poll: string;
}

export const defaultBuildCommand = (machine: string) => `make archive machine=${machine}`;

/** Element text: only &, < and > are special (the script stays readable in Jenkins' config.xml). */
const xmlText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
/** Anywhere, attributes too: a site's template may put a value in one. */
const xml = (s: string) => xmlText(s).replace(/"/g, '&quot;').replace(/'/g, '&apos;');

/** A Groovy single-quoted string: only the backslash and the quote are special in it. */
const groovy = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** The shell line of the job's last step; the job's settings are shell-quoted into it. */
const shell = (s: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

export function pullCommand(s: JobSettings): string {
  return `gbp pull ${shell(s.archive)} --machine ${shell(s.machine)} --build "$BUILD_NUMBER"${s.publish ? ' --publish' : ''}`;
}

/** Refuses what cannot be a git URL, branch or a one-line command before anything reaches Jenkins. */
export function checkSettings(s: JobSettings): void {
  const control = /[\x00-\x1f\x7f]/;
  if (!s.repo || control.test(s.repo) || /\s/.test(s.repo)) throw new GbpError('usage', '--repo', `'${s.repo}' is not a repository URL`);
  // git check-ref-format's rules, in short
  if (!/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(s.branch) || /\.\.|\/\/|\.lock$|\/$|\.$/.test(s.branch)) throw new GbpError('usage', '--branch', `'${s.branch}' is not a branch name`);
  for (const [flag, v] of [['--build-command', s.buildCommand], ['--archive', s.archive]] as const) {
    if (!v || control.test(v)) throw new GbpError('usage', flag, 'must be one line of text');
  }
  if (control.test(s.poll) || !/^[A-Za-z0-9 *\/,#()-]*$/.test(s.poll)) throw new GbpError('usage', '--poll', `'${s.poll}' is not a cron spec`);
}

export function pipelineScript(s: JobSettings): string {
  return `// Gentoo Build Publisher: the job of machine ${s.machine} (written by gbp jenkins add-machine)
pipeline {
  agent any
  options {
    disableConcurrentBuilds()
    buildDiscarder(logRotator(numToKeepStr: '50', artifactNumToKeepStr: '3'))
  }
${s.poll ? `  triggers { pollSCM(${groovy(s.poll)}) }\n` : ''}  stages {
    stage('checkout') {
      steps { git url: ${groovy(s.repo)}, branch: ${groovy(s.branch)} }
    }
    stage('build') {
      steps { sh ${groovy(s.buildCommand)} }
    }
  }
  post {
    success {
      archiveArtifacts artifacts: ${groovy(s.archive)}, fingerprint: true
      // the agent's environment names the store: GBP_STORE, GBP_BASE_URL (and GBP_SITE_KEY)
      sh ${groovy(pullCommand(s))}
    }
  }
}
`;
}

export function jobConfig(s: JobSettings): string {
  return `<?xml version='1.1' encoding='UTF-8'?>
<flow-definition plugin="workflow-job">
  <description>${xmlText(`Builds machine ${s.machine} from ${s.repo} (${s.branch}) and publishes it with Gentoo Build Publisher.`)}</description>
  <keepDependencies>false</keepDependencies>
  <properties/>
  <definition class="org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition" plugin="workflow-cps">
    <script>${xmlText(pipelineScript(s))}</script>
    <sandbox>true</sandbox>
  </definition>
  <triggers/>
  <disabled>false</disabled>
</flow-definition>
`;
}

/** A site's own config.xml with the settings filled in. */
export function fromTemplate(template: string, s: JobSettings): string {
  const values: Record<string, string> = { MACHINE: s.machine, REPO: s.repo, BRANCH: s.branch, BUILD_COMMAND: s.buildCommand, ARCHIVE: s.archive, PULL: pullCommand(s) };
  if (!/@MACHINE@/.test(template)) throw new GbpError('usage', '--template', 'the template does not name the machine (@MACHINE@): every machine would get the same job');
  return template.replace(/@([A-Z_]+)@/g, (m, k: string) => (k in values ? xml(values[k]) : m));
}
