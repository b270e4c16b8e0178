/**
 * Dependencies of a task environment, resolved once on the host with `pip download` (PyPI is
 * reachable from the host, never from an image build) into a content-addressed store:
 *
 *   $SWERL_HOME/cache/wheels/sha256/<hex>/<file name>   one blob per distribution file
 *   $SWERL_HOME/cache/wheels/sets/<key>.json            one resolution: the files it chose
 *
 * The key hashes the requirements and the target interpreter, so a re-run of the same resolution
 * downloads nothing and only links the files it already has (`downloaded` counts new files, the
 * test of resumability). Files are linked into a build context, which then installs with
 * `pip install --no-index --find-links`.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, SandboxError } from '../core/errors';
import { hashParts, shortHash } from './contentHash';

export interface WheelTarget {
  /** "3.9", "3.11", ... the interpreter that will install these files. */
  python: string;
  /** True when the host's python has that version: sdists may then be resolved (their metadata built) here. */
  hostMatches: boolean;
}

export interface WheelSetRequest {
  /** pip requirement lines (names, pins, URLs are refused by pip without network in the build anyway). */
  requirements: string[];
  /** Local wheel files whose dependencies are resolved too (the repository itself); not kept in the set. */
  localWheels?: string[];
  /** Extras of the local wheels the install asks for (`pip install -e .[dev]`): their dependencies join the set. */
  localExtras?: string[];
  target: WheelTarget;
  /** Part of the key only: a change in what the local wheels stand for (their commit) re-resolves. */
  keyParts?: string[];
  /** Extra local directories pip may take distributions from (besides PyPI). */
  findLinks?: string[];
  log?: (line: string) => void;
}

export interface WheelFile {
  file: string;
  sha256: string;
}

export interface WheelSet {
  key: string;
  files: WheelFile[];
  /** Files fetched from PyPI by this call (0 on a re-run). */
  downloaded: number;
  /** Files this call found already in the store. */
  reused: number;
  /** How pip resolved: binary-only for the target, or with the host interpreter (sdists allowed). */
  mode: 'binary-for-target' | 'host-interpreter';
}

/** The platform tags a manylinux wheel may carry to install on the Debian suites we use (glibc ≥ 2.31). */
const PLATFORMS = ['manylinux2014_x86_64', 'manylinux_2_17_x86_64', 'manylinux_2_24_x86_64', 'manylinux_2_28_x86_64', 'manylinux_2_31_x86_64', 'linux_x86_64'];

const CLOSURE = join(__dirname, '..', 'swebench_bridge', 'wheel_closure.py');
const MAX_CLOSURE_ROUNDS = 5;

/** Requirements the files in `dir` need for `python` (markers evaluated for it) that no file there satisfies. */
function closureMissing(dir: string, python: string, roots: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile(process.env.SWERL_HOST_PYTHON ?? 'python3', [CLOSURE, dir, python, ...roots], { maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new SandboxError(ErrorCodes.IMAGE_BUILD_FAILED, `wheel closure check failed: ${stderr.trim().slice(-2000) || err.message}`, { dir }));
      try {
        resolve(JSON.parse(stdout) as string[]);
      } catch {
        reject(new SandboxError(ErrorCodes.IMAGE_BUILD_FAILED, `wheel closure check printed no JSON: ${stdout.slice(0, 500)}`, { dir }));
      }
    });
  });
}

const withExtras = (req: string, extras: string[] | undefined): string => (extras && extras.length > 0 ? `${req}[${extras.join(',')}]` : req);

export function wheelStore(home: string): string {
  return join(home, 'cache', 'wheels');
}

function run(args: string[], log: (l: string) => void): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.env.SWERL_HOST_PYTHON ?? 'python3', ['-m', 'pip', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const onData = (d: Buffer): void => {
      const text = d.toString();
      output = (output + text).slice(-20000);
      for (const line of text.split('\n')) if (/^(Collecting|Saved|ERROR)/.test(line.trim())) log(`  pip: ${line.trim()}`);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (err) => resolve({ code: -1, output: err.message }));
    child.on('close', (code) => resolve({ code, output }));
  });
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function setKey(req: WheelSetRequest): string {
  return shortHash(hashParts(['swerl-wheelset', '2', ...(req.localExtras ?? []), req.target.python, String(req.target.hostMatches), ...req.requirements, '--', ...(req.keyParts ?? [])]));
}

/** Resolves (or reuses) the set of distribution files for `req`. */
export async function resolveWheelSet(home: string, req: WheelSetRequest): Promise<WheelSet> {
  const log = req.log ?? (() => undefined);
  const store = wheelStore(home);
  const key = setKey(req);
  const manifest = join(store, 'sets', `${key}.json`);
  if (existsSync(manifest)) {
    const files = JSON.parse(readFileSync(manifest, 'utf8')) as { files: WheelFile[]; mode: WheelSet['mode'] };
    if (files.files.every((f) => existsSync(join(store, 'sha256', f.sha256, f.file)))) {
      log(`wheels ${key}: ${files.files.length} file(s) already in the cache`);
      return { key, files: files.files, downloaded: 0, reused: files.files.length, mode: files.mode };
    }
  }
  const scratch = join(store, 'tmp', `${key}-${process.pid}-${Date.now()}`);
  mkdirSync(scratch, { recursive: true });
  try {
    const reqFile = join(scratch, 'requirements.txt');
    writeFileSync(reqFile, `${req.requirements.join('\n')}\n`);
    const dest = join(scratch, 'dl');
    const common = ['download', '-q', '--disable-pip-version-check', '--exists-action', 'i', '-d', dest, '-r', reqFile, ...(req.localWheels ?? []).map((w) => withExtras(w, req.localExtras)), ...(req.findLinks ?? []).flatMap((d) => ['--find-links', d])];
    const [major, minor] = req.target.python.split('.');
    // Binary wheels for the target interpreter first: exact, and nothing to build in the image.
    const binary = ['--only-binary=:all:', '--python-version', req.target.python, '--implementation', 'cp', '--abi', `cp${major}${minor}`, ...PLATFORMS.flatMap((p) => ['--platform', p])];
    log(`wheels ${key}: resolving ${req.requirements.length} requirement(s) for Python ${req.target.python}`);
    let mode: WheelSet['mode'] = 'binary-for-target';
    let res = await run([...common, ...binary], log);
    if (res.code !== 0 && req.target.hostMatches) {
      // Some distributions only exist as sdists: the host has the same Python, so pip may build their metadata here.
      log(`wheels ${key}: binary-only resolution failed, resolving with the host interpreter (sdists allowed)`);
      rmSync(dest, { recursive: true, force: true });
      mode = 'host-interpreter';
      res = await run(common, log);
    }
    if (res.code !== 0) {
      throw new SandboxError(ErrorCodes.IMAGE_BUILD_FAILED, `pip download for Python ${req.target.python} failed (${mode}): ${res.output.trim().slice(-3000)}`, { key, mode });
    }
    if (mode === 'binary-for-target') {
      // pip evaluates markers for the host, not the target: complete the set, a bounded number of rounds.
      const roots = [...req.requirements, ...(req.localWheels ?? []).map((p) => withExtras((p.split('/').pop() ?? '').split('-')[0]!.replace(/_/g, '-'), req.localExtras))];
      for (let round = 1; ; round++) {
        const missing = await closureMissing(dest, req.target.python, roots);
        if (missing.length === 0) break;
        if (round > MAX_CLOSURE_ROUNDS) {
          throw new SandboxError(ErrorCodes.IMAGE_BUILD_FAILED, `wheels for Python ${req.target.python} still lack ${missing.join(', ')} after ${MAX_CLOSURE_ROUNDS} rounds`, { key, missing });
        }
        log(`wheels ${key}: markers for Python ${req.target.python} need ${missing.join(', ')} (round ${round})`);
        const more = await run(['download', '-q', '--disable-pip-version-check', '--exists-action', 'i', '-d', dest, ...missing, ...(req.findLinks ?? []).flatMap((d) => ['--find-links', d]), ...binary], log);
        if (more.code !== 0) {
          throw new SandboxError(ErrorCodes.IMAGE_BUILD_FAILED, `pip download of ${missing.join(', ')} for Python ${req.target.python} failed: ${more.output.trim().slice(-3000)}`, { key, missing });
        }
      }
    }
    const localNames = new Set((req.localWheels ?? []).map((p) => p.split('/').pop()));
    const files: WheelFile[] = [];
    let downloaded = 0;
    let reused = 0;
    for (const file of readdirSync(dest).sort()) {
      if (localNames.has(file)) continue;
      const sha = sha256File(join(dest, file));
      const blobDir = join(store, 'sha256', sha);
      if (existsSync(join(blobDir, file))) reused++;
      else {
        mkdirSync(blobDir, { recursive: true });
        renameSync(join(dest, file), join(blobDir, file));
        downloaded++;
      }
      files.push({ file, sha256: sha });
    }
    mkdirSync(join(store, 'sets'), { recursive: true });
    writeFileSync(`${manifest}.partial`, JSON.stringify({ files, mode, requirements: req.requirements, python: req.target.python }, null, 2));
    renameSync(`${manifest}.partial`, manifest);
    log(`wheels ${key}: ${files.length} file(s), ${downloaded} downloaded, ${reused} already cached (${mode})`);
    return { key, files, downloaded, reused, mode };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Puts the set's files into `dir` (hard links when the store is on the same file system). */
export function linkWheelSet(home: string, set: Pick<WheelSet, 'files'>, dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const f of set.files) {
    const src = join(wheelStore(home), 'sha256', f.sha256, f.file);
    const dst = join(dir, f.file);
    if (existsSync(dst)) continue;
    try {
      linkSync(src, dst);
    } catch {
      copyFileSync(src, dst);
    }
  }
}
