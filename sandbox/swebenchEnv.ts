/**
 * The environment of a real SWE-bench task: one image per (repo, version, spec hash), built offline
 * from the official spec (swebenchBridge.ts) in three layers, each a content-hashed tag that a
 * re-run finds and reuses:
 *
 *   base  swerl-base:<h>           the Debian suite whose Python is nearest the spec's (images.ts)
 *   env   swerl-swebench-env:<h>   a venv at /opt/swerl/venv with the spec's dependencies, installed
 *                                  from wheels resolved ONCE on the host (wheelCache.ts) with
 *                                  `--no-index --find-links`: the build has no network
 *   repo  swerl-swebench-task:<h>  the repository at the base commit in /repo, set up as the spec says
 *                                  (MAP_REPO_TO_INSTALL, pre_install, install), still offline
 *
 * A line may instead name a prebuilt image (its `image` field, or the rule in
 * SWERL_SWEBENCH_IMAGE_RULE such as `sweb.eval.x86_64.{id}`): used when present, loaded from
 * `$SWERL_SWEBENCH_IMAGE_TARS/<name>.tar` when there, or pulled. Such an image has SWE-bench's own
 * layout (/testbed, conda), which the eval script then keeps.
 */
import { execFile } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { ErrorCodes, SandboxError, SwerlError, TaskError } from '../core/errors';
import { hashParts, shortHash } from './contentHash';
import { buildFromContextDir, imageExists } from './dockerBuild';
import { ensureBaseImage, swerlHome } from './images';
import type { DebianSuite } from './rootfs';
import { swebench, type SwebenchInstance, type SwebenchSpec } from './swebenchBridge';
import { checkoutAtCommit, resolveBaseCommit } from './taskRepo';
import { linkWheelSet, resolveWheelSet, type WheelSet } from './wheelCache';

const execFileP = promisify(execFile);

/** The Python of each Debian suite served here. */
export const SUITE_PYTHON: Readonly<Record<DebianSuite, string>> = { bullseye: '3.9', bookworm: '3.11', trixie: '3.13' };
const HOST_PYTHON_CACHE: { version?: Promise<string> } = {};

export interface SuiteChoice {
  suite: DebianSuite;
  python: string;
  /** The spec's Python, when it differs from the suite's (recorded in provenance). */
  substitutedFor?: string;
}

/** The suite whose Python is nearest `python` (ties go to the older one: old code rarely runs on newer Pythons). */
export function suiteForPython(python: string): SuiteChoice {
  const minor = (v: string): number => Number(v.split('.')[1] ?? 0);
  const want = minor(python);
  const suites = (Object.entries(SUITE_PYTHON) as [DebianSuite, string][]).sort((a, b) => minor(a[1]) - minor(b[1]));
  let best = suites[0]!;
  for (const s of suites) if (Math.abs(minor(s[1]) - want) < Math.abs(minor(best[1]) - want)) best = s;
  const [suite, py] = best;
  return py === python ? { suite, python: py } : { suite, python: py, substitutedFor: python };
}

/** Where the repository is and how the test run is activated, as the eval script needs them. */
export interface EnvLayout {
  repoDirectory: string;
  /** The script `source`d to get the test interpreter; null keeps SWE-bench's conda lines as they are. */
  activate: string | null;
}
export const SWERL_LAYOUT: EnvLayout = { repoDirectory: '/repo', activate: '/opt/swerl/venv/bin/activate' };
export const SWEBENCH_LAYOUT: EnvLayout = { repoDirectory: '/testbed', activate: null };

export interface EnvProvenance {
  specSource: string;
  swebench: string;
  spec: SwebenchSpec;
  specHash: string;
  suite?: DebianSuite;
  python?: string;
  pythonSubstitutedFor?: string;
  wheels?: { key: string; files: number; mode: WheelSet['mode'] };
  prebuilt?: { name: string; how: 'present' | 'loaded' | 'pulled' };
  parser: string | null;
  /** SETUPTOOLS_SCM_PRETEND_VERSION of the repo layer, and where it came from. */
  scmVersion?: { version: string; from: 'tag' | 'task version'; tag?: string };
  /** The repository's own dependencies at environment_setup_commit (in the env layer's wheel dir, installed by the spec's install). */
  projectWheels?: { key: string; files: number; mode: WheelSet['mode'] };
  /** The same at the base commit, when it differs (resolved per task image). */
  taskWheels?: { key: string; files: number; mode: WheelSet['mode'] };
}

export interface TaskEnvironment {
  image: string;
  layout: EnvLayout;
  provenance: EnvProvenance;
  /** What this call did, for progress lines and the resumability test: builds and downloads it needed. */
  work: { layersBuilt: string[]; layersReused: string[]; wheelsDownloaded: number; wheelsReused: number };
}

export interface SwebenchEnvOptions {
  docker?: Docker;
  log?: (line: string) => void;
  /** $SWERL_HOME; default swerlHome(). */
  home?: string;
  /** Local directories of distributions offered to the host-side `pip download` besides PyPI. */
  findLinks?: string[];
}

export type SwebenchTaskLine = SwebenchInstance & { image?: string };

function hostPythonVersion(): Promise<string> {
  HOST_PYTHON_CACHE.version ??= execFileP(process.env.SWERL_HOST_PYTHON ?? 'python3', ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'])
    .then((r) => r.stdout.trim())
    .catch(() => '');
  return HOST_PYTHON_CACHE.version;
}

/** Requirement lines of a pip requirements text: pins and names, no options, editable installs or comments. */
export function requirementLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('-') && !l.startsWith('.'));
}

/** The pip-installable part of a conda environment.yml: its `pip:` list and its plain `name=ver` dependencies. */
export function environmentYmlRequirements(yml: string): string[] {
  const out: string[] = [];
  let inDependencies = false;
  for (const raw of yml.split('\n')) {
    const top = /^([A-Za-z_]+):/.exec(raw);
    if (top) inDependencies = top[1] === 'dependencies';
    if (!inDependencies) continue;
    const m = /^\s*-\s+([A-Za-z0-9_.\-[\]]+)\s*(?:([=<>!~]=?)\s*([^\s#]+))?\s*$/.exec(raw);
    if (!m) continue;
    const [, name, op, ver] = m as unknown as [string, string, string | undefined, string | undefined];
    if (['python', 'pip', 'setuptools', 'wheel'].includes(name.toLowerCase())) continue;
    out.push(op && ver ? `${name}${op === '=' ? '==' : op}${ver.replace(/=.*$/, '')}` : name);
  }
  return out;
}

async function specRequirements(line: SwebenchTaskLine, spec: SwebenchSpec, gitDir: string): Promise<string[]> {
  const reqs: string[] = [];
  const pkgs = spec.packages ?? '';
  if (pkgs === 'requirements.txt' || pkgs === 'environment.yml') {
    const ans = await swebench.requirements(line, gitDir);
    if (ans.requirements !== null) reqs.push(...requirementLines(ans.requirements));
    if (ans.environmentYml !== null) reqs.push(...environmentYmlRequirements(ans.environmentYml));
  } else if (pkgs.trim() !== '') {
    // A conda package list ("numpy scipy pytest"): the same names on PyPI.
    reqs.push(...pkgs.split(/\s+/).filter(Boolean));
  }
  reqs.push(...(spec.pip_packages ?? []));
  return reqs;
}

/** The git dir (bare or not) to read commits from. */
async function gitDirOf(repoDir: string): Promise<string> {
  const { stdout } = await execFileP('git', ['rev-parse', '--absolute-git-dir'], { cwd: repoDir });
  return stdout.trim();
}

/**
 * The spec's `pre_install` steps that only edit files of the tree (sed, with grep as a guard, as
 * sphinx's `sed -i 's/Jinja2>=2.3/Jinja2<3.0/' setup.py`): the host applies them to its own copy
 * before reading the repository's dependencies, so the wheels resolved are the ones the edited
 * setup.py asks for. Anything else (apt-get, pip, scripts) runs only in the image.
 */
export function treeEditSteps(preInstall: readonly string[] | undefined): string[] {
  const editOnly = (step: string): boolean => {
    // Quoted text (sed's own patterns hold < and >) is not shell syntax: judge what is left.
    const singleFree = step.replace(/'[^']*'/g, "''");
    // Double quotes still expand $(...) and backquotes.
    if (/"[^"]*[$`\\][^"]*"/.test(singleFree)) return false;
    const bare = singleFree.replace(/"[^"]*"/g, '""');
    if (/[`$<>]/.test(bare) || bare.replaceAll('||', '').includes('|')) return false;
    // Files of the tree only: no absolute path, no way out of it.
    if (/(^|\s)[/~]|\.\./.test(bare)) return false;
    return bare.split(/&&|\|\||;/).every((part) => /^(sed -i|grep -q) /.test(part.trim()));
  };
  return (preInstall ?? []).filter(editOnly);
}

/**
 * A wheel of the repository at `commit` built on the host, so that pip resolves the dependencies
 * the spec's `install` will want; `edits` (treeEditSteps) run in the copy first. Undefined when it
 * does not build here (a compiled extension); the install then finds only what the spec lists.
 */
async function projectWheel(gitDir: string, commit: string, scratch: string, log: (l: string) => void, edits: string[] = []): Promise<string | undefined> {
  const src = join(scratch, 'project');
  rmSync(src, { recursive: true, force: true });
  mkdirSync(src, { recursive: true });
  try {
    await execFileP('bash', ['-c', `git --git-dir "$0" archive --format=tar "$1" | tar -x -C "$2"`, gitDir, commit, src]);
    for (const step of edits) await execFileP('bash', ['-c', step], { cwd: src }).catch(() => undefined);
    const out = join(scratch, 'project-wheel');
    rmSync(out, { recursive: true, force: true });
    await execFileP(process.env.SWERL_HOST_PYTHON ?? 'python3', ['-m', 'pip', 'wheel', '-q', '--no-deps', '-w', out, src], { maxBuffer: 16 * 1024 * 1024, timeout: 600_000 });
    const whl = readdirSync(out).find((f) => f.endsWith('.whl'));
    return whl ? join(out, whl) : undefined;
  } catch (err) {
    log(`project wheel at ${commit.slice(0, 12)} does not build on the host (${(err as Error).message.split('\n')[0]}); resolving the spec's own list only`);
    return undefined;
  }
}

/** The extras an install command asks of the repository itself: `pip install -e ".[dev,test]"` → dev, test. */
export function installExtras(install: string | undefined): string[] {
  const m = /pip install[^\n]*?\.\[([^\]]+)\]/.exec(install ?? '');
  return m ? m[1]!.split(',').map((e) => e.trim()).filter(Boolean) : [];
}

const PEP440_RELEASE = /^\d+(\.\d+)*([.-]?(a|b|rc|dev|post)\d*)*$/;

/**
 * The version setuptools_scm would read from the repository's tags (the image's /repo is fetched
 * without tags, and a project like pytest refuses to run as version 0.1.dev): the nearest tag
 * below the commit in the source (the repository mirror copies that one tag), without a leading
 * "v"; when the source has none, the task line's own `version` (SWE-bench's version of the
 * instance, e.g. "7.0"). Undefined when neither is a PEP 440 release.
 */
export async function scmVersion(gitDir: string, commit: string, taskVersion: string | undefined): Promise<{ version: string; from: 'tag' | 'task version'; tag?: string } | undefined> {
  const tag = await execFileP('git', ['--git-dir', gitDir, 'describe', '--tags', '--abbrev=0', commit]).then((r) => r.stdout.trim(), () => '');
  const version = tag.replace(/^v/, '');
  if (PEP440_RELEASE.test(version)) return { version, from: 'tag', tag };
  if (taskVersion && PEP440_RELEASE.test(taskVersion)) return { version: taskVersion, from: 'task version' };
  return undefined;
}

/**
 * The repository's PEP 518 build requirements at `commit` (pyproject.toml [build-system] requires):
 * the offline `pip install -e .` of the repo layer builds in isolation from the same wheel dir.
 */
async function buildRequires(gitDir: string, commit: string): Promise<string[]> {
  const toml = await execFileP('git', ['--git-dir', gitDir, 'show', `${commit}:pyproject.toml`], { maxBuffer: 4 * 1024 * 1024 }).then((r) => r.stdout, () => '');
  if (!toml) return [];
  const py = 'import json, sys, tomllib; print(json.dumps(tomllib.loads(sys.stdin.read()).get("build-system", {}).get("requires", [])))';
  return new Promise((resolve) => {
    const child = execFile(process.env.SWERL_HOST_PYTHON ?? 'python3', ['-c', py], (err, stdout) => {
      if (err) return resolve([]);
      try {
        resolve(JSON.parse(stdout) as string[]);
      } catch {
        resolve([]);
      }
    });
    child.stdin?.end(toml);
  });
}

/**
 * The venv's own tools. setuptools stays below 81, the first release without pkg_resources: code of
 * the SWE-bench era imports it at run time (sqlfluff 0.7's __init__), and the official conda
 * environments carry a setuptools that still has it.
 */
const VENV_TOOLS = ['pip', 'setuptools<81', 'wheel'];

const ENV_DOCKERFILE = (baseTag: string): string => `FROM ${baseTag}
COPY wheels/ /opt/swerl/wheels/
COPY env-requirements.txt /opt/swerl/env-requirements.txt
# The venv is the task's interpreter (SWE-bench's conda env "testbed"); owned by uid 1000 so the
# eval script's own install step can run as the sandbox user. No network: every file is in wheels/.
RUN python3 -m venv --without-pip /opt/swerl/venv \\
 && pipwhl=$(ls /opt/swerl/wheels/pip-*.whl | head -n1) \\
 && /opt/swerl/venv/bin/python "$pipwhl/pip" install -q --no-index --find-links /opt/swerl/wheels ${VENV_TOOLS.map((t) => `'${t}'`).join(' ')} \\
 && /opt/swerl/venv/bin/python -m pip install -q --no-index --find-links /opt/swerl/wheels -r /opt/swerl/env-requirements.txt \\
 && chown -R 1000:1000 /opt/swerl/venv
ENV VIRTUAL_ENV=/opt/swerl/venv PATH=/opt/swerl/venv/bin:/opt/swerl/tools/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin PIP_FIND_LINKS=/opt/swerl/wheels PIP_NO_INDEX=1
`;

const REPO_DOCKERFILE = (envTag: string, commit: string, version: string | undefined): string => `FROM ${envTag}
${version ? `ENV SETUPTOOLS_SCM_PRETEND_VERSION=${version}\n` : ''}COPY --chown=1000:1000 repo/ /repo/
COPY install.sh /opt/swerl/install.sh
COPY wheels-task/ /opt/swerl/wheels-task/
ENV PIP_FIND_LINKS="/opt/swerl/wheels /opt/swerl/wheels-task"
# Whatever the install leaves in /repo (egg-info, build dirs) is not the agent's work: hidden from git status/diff.
RUN cd /repo && bash -eux /opt/swerl/install.sh && git ls-files --others --exclude-standard >> .git/info/exclude && chown -R 1000:1000 /repo /opt/swerl/venv
ENV SWERL_BASE_COMMIT=${commit}
LABEL swerl.base-commit=${commit}
WORKDIR /repo
`;

function pull(docker: Docker, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    docker.pull(name, (err: Error | null, stream: NodeJS.ReadableStream) => {
      if (err) return reject(err);
      docker.modem.followProgress(stream, (e: Error | null) => (e ? reject(e) : resolve()));
    });
  });
}

/** A named prebuilt image, made present if it can be: found, loaded from a saved tar, or pulled. */
async function prebuilt(docker: Docker, line: SwebenchTaskLine, log: (l: string) => void): Promise<{ name: string; how: 'present' | 'loaded' | 'pulled' } | undefined> {
  const rule = process.env.SWERL_SWEBENCH_IMAGE_RULE;
  const name = line.image ?? (rule ? rule.replaceAll('{id}', line.instance_id.toLowerCase()) : undefined);
  if (!name) return undefined;
  if (await imageExists(docker, name)) return { name, how: 'present' };
  const tarDir = process.env.SWERL_SWEBENCH_IMAGE_TARS;
  const tar = tarDir ? [join(tarDir, `${name}.tar`), join(tarDir, `${name.replace(/[/:]/g, '_')}.tar`)].find((p) => existsSync(p)) : undefined;
  if (tar) {
    log(`loading ${name} from ${tar}`);
    const stream = await docker.loadImage(createReadStream(tar));
    await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (e: Error | null) => (e ? reject(e) : resolve())));
    if (await imageExists(docker, name)) return { name, how: 'loaded' };
  }
  try {
    log(`pulling ${name}`);
    await pull(docker, name);
    if (await imageExists(docker, name)) return { name, how: 'pulled' };
  } catch (err) {
    log(`${name} cannot be pulled (${(err as Error).message.split('\n')[0]}); building from the spec`);
  }
  return undefined;
}

/**
 * Ensures the environment image of one SWE-bench task line; `repoDir` is a git directory (bare or
 * not) holding its base commit (and its environment_setup_commit, for the requirements).
 */
export async function ensureSwebenchEnvironment(line: SwebenchTaskLine, repoDir: string, opts: SwebenchEnvOptions = {}): Promise<TaskEnvironment> {
  const docker = opts.docker ?? new Docker();
  const log = opts.log ?? (() => undefined);
  const home = opts.home ?? swerlHome();
  const id = line.instance_id;
  let specAns;
  try {
    specAns = await swebench.spec(line);
  } catch (err) {
    throw new TaskError(ErrorCodes.TASK_INVALID, `task ${id}: no SWE-bench spec for ${line.repo} version ${line.version ?? '(none)'}: ${(err as Error).message}`, { instanceId: id });
  }
  const spec = specAns.spec;
  const specHash = shortHash(hashParts(['swebench-spec', JSON.stringify(spec), specAns.repoInstall ?? '']));
  const provenance: EnvProvenance = { specSource: specAns.source, swebench: specAns.swebench, spec, specHash, parser: specAns.parser };
  const work: TaskEnvironment['work'] = { layersBuilt: [], layersReused: [], wheelsDownloaded: 0, wheelsReused: 0 };

  const pre = await prebuilt(docker, line, log);
  if (pre) return { image: pre.name, layout: SWEBENCH_LAYOUT, provenance: { ...provenance, prebuilt: pre }, work };

  const choice = suiteForPython(String(spec.python));
  provenance.suite = choice.suite;
  provenance.python = choice.python;
  if (choice.substitutedFor) {
    provenance.pythonSubstitutedFor = choice.substitutedFor;
    log(`${id}: spec wants Python ${choice.substitutedFor}; using ${choice.suite}'s ${choice.python} (nearest served here)`);
  }
  const baseTag = await ensureBaseImage({ docker, log, suite: choice.suite });

  const home_tmp = join(home, 'tmp');
  mkdirSync(home_tmp, { recursive: true });
  const scratch = mkdtempSync(join(home_tmp, 'swebench-'));
  try {
    if (!existsSync(repoDir)) throw new TaskError(ErrorCodes.TASK_NOT_FOUND, `task ${id}: repository ${repoDir} does not exist`, { instanceId: id, repoDir });
    const gitDir = await gitDirOf(repoDir).catch((err: Error) => {
      throw new TaskError(ErrorCodes.TASK_NOT_FOUND, `task ${id}: ${repoDir} is not a git repository: ${err.message}`, { instanceId: id });
    });
    const commit = await resolveBaseCommit(repoDir, line.base_commit, id);
    const envCommit = line.environment_setup_commit ? await resolveBaseCommit(repoDir, line.environment_setup_commit, id).catch(() => commit) : commit;

    // env layer: one per (repo, version, spec hash, suite); the requirements come from the repo at environment_setup_commit.
    const edits = treeEditSteps(spec.pre_install);
    const hostMatches = (await hostPythonVersion()) === choice.python;
    /** The wheels the repository at `at` asks for when the spec installs it with pip (none otherwise, or when it does not build here). */
    const projectWheelSet = async (at: string): Promise<WheelSet | undefined> => {
      if (!/pip install/.test(spec.install ?? '')) return undefined;
      const wheel = await projectWheel(gitDir, at, scratch, log, edits);
      if (!wheel) return undefined;
      const set = await resolveWheelSet(home, {
        requirements: [],
        localWheels: [wheel],
        localExtras: installExtras(spec.install),
        target: { python: choice.python, hostMatches },
        keyParts: [line.repo, at, 'project', ...edits],
        findLinks: opts.findLinks,
        log,
      });
      work.wheelsDownloaded += set.downloaded;
      work.wheelsReused += set.reused;
      return set;
    };
    const reqs = await specRequirements(line, spec, gitDir);
    const buildReqs = await buildRequires(gitDir, envCommit);
    const envKey = shortHash(hashParts(['swerl-swebench-env', '1', baseTag, ...VENV_TOOLS, line.repo, String(line.version), specHash, envCommit, ...reqs, '--', ...buildReqs, ...(edits.length > 0 ? ['--edits', ...edits] : [])]));
    const envTag = `swerl-swebench-env:${envKey}`;
    if (await imageExists(docker, envTag)) {
      work.layersReused.push(envTag);
      log(`${id}: env ${envTag} reused`);
    } else {
      const set = await resolveWheelSet(home, {
        requirements: [...reqs, ...buildReqs, ...VENV_TOOLS],
        target: { python: choice.python, hostMatches },
        keyParts: [line.repo, envCommit, 'spec'],
        findLinks: opts.findLinks,
        log,
      });
      work.wheelsDownloaded += set.downloaded;
      work.wheelsReused += set.reused;
      provenance.wheels = { key: set.key, files: set.files.length, mode: set.mode };
      // The repository's own dependencies, resolved apart from the spec's list: its install replaces
      // what it must (sphinx 3.5's edited setup.py wants Jinja2<3.0 where the spec pins 3.0.3, and
      // SWE-bench's `pip install -e .` downgrades it the same way).
      const project = await projectWheelSet(envCommit);
      if (project) provenance.projectWheels = { key: project.key, files: project.files.length, mode: project.mode };
      const ctx = join(scratch, 'env');
      linkWheelSet(home, set, join(ctx, 'wheels'));
      if (project) linkWheelSet(home, project, join(ctx, 'wheels'));
      writeFileSync(join(ctx, 'env-requirements.txt'), `${reqs.join('\n')}\n`);
      writeFileSync(join(ctx, 'Dockerfile'), ENV_DOCKERFILE(baseTag));
      log(`${id}: building env ${envTag} (${set.files.length} wheel(s), Python ${choice.python})`);
      await buildFromContextDir(docker, ctx, envTag, { 'swerl.image': 'swebench-env', 'swerl.repo': line.repo, 'swerl.version': String(line.version) });
      work.layersBuilt.push(envTag);
    }

    // repo layer: the repository at its base commit, installed as the spec says.
    const install = [specAns.repoInstall, ...(spec.pre_install ?? []), spec.install].filter((s): s is string => !!s);
    const installScript = ['source /opt/swerl/venv/bin/activate', ...install].join('\n') + '\n';
    const scm = await scmVersion(gitDir, commit, line.version === undefined ? undefined : String(line.version));
    const version = scm?.version;
    if (scm) provenance.scmVersion = scm;
    const tag = `swerl-swebench-task:${shortHash(hashParts(['swerl-swebench-task', '1', envTag, commit, installScript, version ?? '']))}`;
    if (await imageExists(docker, tag)) {
      work.layersReused.push(tag);
      log(`${id}: task image ${tag} reused`);
    } else {
      const ctx = join(scratch, 'repo');
      await checkoutAtCommit(repoDir, commit, join(ctx, 'repo'), id);
      writeFileSync(join(ctx, 'install.sh'), installScript);
      // The env layer holds what the repository needed at environment_setup_commit; its base commit
      // may need more (sqlfluff 0.7 added configparser to setup.py after its 0.6 env commit). SWE-bench
      // installs those from PyPI in the image; here they are resolved on the host, for this commit only.
      mkdirSync(join(ctx, 'wheels-task'), { recursive: true });
      const taskProject = commit !== envCommit ? await projectWheelSet(commit) : undefined;
      if (taskProject) {
        provenance.taskWheels = { key: taskProject.key, files: taskProject.files.length, mode: taskProject.mode };
        linkWheelSet(home, taskProject, join(ctx, 'wheels-task'));
      }
      writeFileSync(join(ctx, 'Dockerfile'), REPO_DOCKERFILE(envTag, commit, version));
      log(`${id}: building task image ${tag} at ${commit.slice(0, 12)}`);
      try {
        await buildFromContextDir(docker, ctx, tag, { 'swerl.image': 'swebench-task', 'swerl.instance-id': id });
      } catch (err) {
        if (err instanceof SwerlError && err.code === ErrorCodes.IMAGE_BUILD_FAILED) {
          // The spec's install failed offline: the task's environment, not the machine, is at fault.
          throw new TaskError(ErrorCodes.TASK_INVALID, `task ${id}: installing the repository as its spec says failed: ${err.message.slice(-3000)}`, { instanceId: id, image: tag });
        }
        throw err;
      }
      work.layersBuilt.push(tag);
    }
    return { image: tag, layout: SWERL_LAYOUT, provenance, work };
  } catch (err) {
    if (err instanceof SwerlError) throw err;
    throw new SandboxError(ErrorCodes.IMAGE_BUILD_FAILED, `task ${id}: environment build failed: ${(err as Error).message}`, { instanceId: id }, { cause: err });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
