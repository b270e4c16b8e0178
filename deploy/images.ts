/**
 * `swerl cluster build`: the images of the compose deployment, made here without a registry, the
 * way the sandbox images are (sandbox/rootfs.ts): a Debian root filesystem from mmdebstrap
 * (`docker import`), then a `docker build` with no network on top of it. Each image is tagged
 * `swerl-cluster-<name>:<hash12>`, a hash of every input (rootfs packages, Dockerfile, copied
 * files, binaries, wheels), and also `:local`, the tag docker-compose.yml uses; a re-run whose
 * inputs did not change is a `docker image inspect` per image.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import Docker from 'dockerode';
import { buildFromContextDir, imageExists } from '../sandbox/dockerBuild';
import { hashParts, hashTree, shortHash } from '../sandbox/contentHash';
import { swerlHome } from '../sandbox/images';
import { ensureRootfsImage, type DebianSuite } from '../sandbox/rootfs';
import { linkWheelSet, resolveWheelSet } from '../sandbox/wheelCache';
import { ensureDockerProxy } from './dockerProxy';
import { ensureTemporalBinaries } from './temporalBinaries';

const REPO_ROOT = resolve(__dirname, '..');
const DEPLOY_DIR = __dirname;
/** Bump when the way these images are assembled changes in a way their inputs do not show. */
const RECIPE_VERSION = '2';
export const CLUSTER_IMAGE_NAMES = ['postgres', 'temporal', 'docker-proxy', 'app', 'trainer'] as const;
export type ClusterImageName = (typeof CLUSTER_IMAGE_NAMES)[number];

/** The tag docker-compose.yml refers to (`${SWERL_<NAME>_IMAGE:-swerl-cluster-<name>:local}`). */
export const localTag = (name: ClusterImageName): string => `swerl-cluster-${name}:local`;

interface Recipe {
  suite: DebianSuite;
  packages: readonly string[];
  dockerfile: string;
  /** Assembles the build context in `ctx` (or names files of `root` for a repository context); returns the hash parts of its inputs. */
  context(ctx: string, log: (line: string) => void): Promise<{ parts: Array<string | Buffer>; root?: string; files?: string[] }>;
}

const text = (path: string): string => readFileSync(path, 'utf8');
const copyInto = (ctx: string, rel: string, from = join(DEPLOY_DIR, rel)): void => {
  mkdirSync(dirname(join(ctx, rel)), { recursive: true });
  cpSync(from, join(ctx, rel), { recursive: true });
};

/** What no service of the deployment runs (tests, benchmarks, docs): left out, so editing them does not change the image. */
const NOT_IN_APP_IMAGE = /^(test|bench|docs|test-artifacts)\/|\.md$/;

/** The repository's files as git sees them (tracked, and untracked unless ignored), that exist and a service may run. */
function repositoryFiles(): string[] {
  const out = execFileSync('git', ['-C', REPO_ROOT, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], { maxBuffer: 64 * 1024 * 1024 });
  return [...new Set(out.toString('utf8').split('\0').filter(Boolean))]
    .filter((f) => f !== '.dockerignore') // it excludes node_modules, which this context must carry
    .filter((f) => !NOT_IN_APP_IMAGE.test(f))
    // statSync follows links: a link to a directory (a worktree's trainer/.venv) is not a file either.
    .filter((f) => existsSync(join(REPO_ROOT, f)) && !statSync(join(REPO_ROOT, f)).isDirectory())
    .sort();
}

const RECIPES: Record<ClusterImageName, Recipe> = {
  postgres: {
    suite: 'bookworm',
    packages: ['postgresql-15', 'util-linux'],
    dockerfile: 'postgres.Dockerfile',
    async context(ctx) {
      copyInto(ctx, 'postgres/entrypoint.sh');
      return { parts: [text(join(DEPLOY_DIR, 'postgres/entrypoint.sh'))] };
    },
  },
  temporal: {
    suite: 'bookworm',
    packages: ['ca-certificates', 'tzdata', 'passwd'],
    dockerfile: 'temporal.Dockerfile',
    async context(ctx, log) {
      const binaries = await ensureTemporalBinaries(log);
      const parts: Array<string | Buffer> = [binaries.version];
      mkdirSync(join(ctx, 'bin'));
      for (const [name, path] of Object.entries(binaries.files).sort()) {
        copyFileSync(path, join(ctx, 'bin', name));
        parts.push(name, hashParts([readFileSync(path)]));
      }
      for (const f of ['temporal/config.yaml', 'temporal/dynamicconfig.yaml', 'temporal/entrypoint.sh', 'temporal/setup-schema.sh', 'temporal/setup-namespace.sh']) {
        copyInto(ctx, f);
        parts.push(f, text(join(DEPLOY_DIR, f)));
      }
      return { parts };
    },
  },
  'docker-proxy': {
    // The temporal image's rootfs (one cached rootfs for both); the proxy is a static Go binary.
    suite: 'bookworm',
    packages: ['ca-certificates', 'tzdata', 'passwd'],
    dockerfile: 'docker-proxy.Dockerfile',
    async context(ctx, log) {
      const bin = await ensureDockerProxy(log);
      copyFileSync(bin, join(ctx, 'swerl-docker-proxy'));
      return { parts: [hashParts([readFileSync(bin)])] };
    },
  },
  app: {
    // trixie: Debian's nodejs 20 (bookworm has 18; package.json needs >= 20.19).
    suite: 'trixie',
    packages: ['nodejs', 'ca-certificates', 'git', 'passwd', 'tini'],
    dockerfile: 'app.Dockerfile',
    async context() {
      if (!existsSync(join(REPO_ROOT, 'node_modules', '.package-lock.json'))) {
        throw new Error('node_modules is missing: run `bash scripts/bootstrap.sh` (npm ci) before `swerl cluster build`');
      }
      const files = repositoryFiles();
      const parts: Array<string | Buffer> = [];
      for (const f of files) parts.push(f, (lstatSync(join(REPO_ROOT, f)).mode & 0o111) !== 0 ? 'x' : '-', readFileSync(join(REPO_ROOT, f)));
      // node_modules is what `npm ci` made of package-lock.json (hashed above): its lock stands for it.
      parts.push('node_modules', readFileSync(join(REPO_ROOT, 'node_modules', '.package-lock.json')));
      return { parts, root: REPO_ROOT, files: [...files, 'node_modules'] };
    },
  },
  trainer: {
    suite: 'bookworm',
    packages: ['python3', 'python3-venv', 'python3-pip', 'python3-torch', 'libopenblas0-pthread', 'passwd'],
    dockerfile: 'trainer.Dockerfile',
    async context(ctx, log) {
      const trainerDir = join(REPO_ROOT, 'trainer');
      // The worker's own pins (prometheus-client) live in requirements-worker.txt, as for trainer/.venv (install.sh).
      const requirementFiles = ['requirements.txt', 'requirements-worker.txt'];
      const requirements = requirementFiles
        .flatMap((f) => text(join(trainerDir, f)).split('\n'))
        .map((l) => l.replace(/#.*/, '').trim())
        .filter(Boolean);
      // Bookworm's python3 is 3.11: the wheels are resolved on this host for it (no network in the build).
      const set = await resolveWheelSet(swerlHome(), { requirements, target: { python: '3.11', hostMatches: false }, log });
      linkWheelSet(swerlHome(), set, join(ctx, 'wheels'));
      for (const f of requirementFiles) copyFileSync(join(trainerDir, f), join(ctx, f));
      copyFileSync(join(trainerDir, 'contract.schema.json'), join(ctx, 'contract.schema.json'));
      const isLitter = (name: string) => name === '__pycache__' || name.endsWith('.pyc');
      cpSync(join(trainerDir, 'swerl_trainer'), join(ctx, 'swerl_trainer'), { recursive: true, filter: (src) => !isLitter(src.split('/').pop() ?? '') });
      return {
        parts: [set.files.map((f) => f.sha256).join(','), ...requirementFiles.map((f) => text(join(trainerDir, f))), text(join(trainerDir, 'contract.schema.json')), hashTree(join(ctx, 'swerl_trainer'))],
      };
    },
  },
};

export interface ClusterImage {
  name: ClusterImageName;
  tag: string;
  built: boolean;
  seconds: number;
}

/**
 * Ensures each named image (all by default) exists for the current inputs and is tagged `:local`.
 * One at a time: builds are CPU- and disk-bound.
 */
export async function buildClusterImages(opts: { names?: readonly ClusterImageName[]; docker?: Docker; log?: (line: string) => void } = {}): Promise<ClusterImage[]> {
  const docker = opts.docker ?? new Docker();
  const log = opts.log ?? (() => undefined);
  const mirror = process.env.SWERL_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
  const results: ClusterImage[] = [];
  for (const name of opts.names ?? CLUSTER_IMAGE_NAMES) {
    const started = Date.now();
    const recipe = RECIPES[name];
    const scratchRoot = join(swerlHome(), 'tmp');
    mkdirSync(scratchRoot, { recursive: true });
    const ctx = mkdtempSync(join(scratchRoot, `cluster-${name}-`));
    try {
      const rootfs = await ensureRootfsImage(docker, { suite: recipe.suite, packages: recipe.packages, mirror }, join(swerlHome(), 'cache'));
      const inputs = await recipe.context(ctx, log);
      const dockerfileText = text(join(DEPLOY_DIR, recipe.dockerfile));
      const tag = `swerl-cluster-${name}:${shortHash(hashParts(['swerl-cluster', RECIPE_VERSION, name, rootfs, dockerfileText, ...inputs.parts]))}`;
      let built = false;
      if (!(await imageExists(docker, tag))) {
        log(`building ${tag} on ${rootfs}`);
        const labels = { 'swerl.image': `cluster-${name}` };
        if (inputs.root) {
          await buildFromContextDir(docker, inputs.root, tag, labels, { files: [...new Set([...(inputs.files ?? []), `deploy/${recipe.dockerfile}`])], dockerfile: `deploy/${recipe.dockerfile}`, buildargs: { BASE: rootfs } });
        } else {
          copyFileSync(join(DEPLOY_DIR, recipe.dockerfile), join(ctx, 'Dockerfile'));
          await buildFromContextDir(docker, ctx, tag, labels, { buildargs: { BASE: rootfs } });
        }
        built = true;
      }
      const [repo, local] = localTag(name).split(':') as [string, string];
      await docker.getImage(tag).tag({ repo, tag: local });
      const seconds = (Date.now() - started) / 1000;
      log(`${built ? 'built' : 'cached'} ${tag} (${seconds.toFixed(1)} s) → ${localTag(name)}`);
      results.push({ name, tag, built, seconds });
    } finally {
      rmSync(ctx, { recursive: true, force: true });
    }
  }
  return results;
}
