/**
 * `swerl dev up | down | status`: a local Docker + Temporal + Postgres stack that workers, the CLI
 * and the integration tests share. Guarantees:
 * - up is idempotent: a component that runs (our pid file + a real health check) is reused;
 *   a stale pid file is cleaned and the component started again;
 * - a port held by a process we did not start is an error (SWERL_STACK_PORT_IN_USE), never a reuse;
 * - Temporal and Postgres keep their state in the state dir, so a SIGKILL + start loses nothing;
 * - down never stops a dockerd that this stack did not start;
 * - <stateDir>/endpoints.json tells other processes where the stack is.
 */
import fs from 'node:fs';
import { ConfigError, ErrorCodes, StackError } from '../../core/errors';
import { type Component, type ComponentStatus, isHealthy } from './component';
import { docker } from './docker';
import { withStackLock } from './lock';
import { postgres } from './postgres';
import {
  COMPONENTS,
  type ComponentName,
  endpointsFile,
  endpointsOf,
  type StackEndpoints,
  type StackSettings,
  stackSettings,
  temporalKindFile,
  temporalTlsDirFile,
} from './settings';
import { temporal } from './temporal';
import { temporalServer } from './temporalServer';
import { waitGone, waitUntil } from './process';

export { stackSettings, endpointsOf, endpointsFile, type StackEndpoints, type StackSettings, type ComponentName };
export { type ComponentStatus };

export interface StackOptions {
  only?: ComponentName[];
  /** Environment to read settings from (SWERL_HOME, ports); defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

function byName(name: ComponentName, s: StackSettings): Component {
  if (name === 'temporal') return s.temporalKind === 'server' ? temporalServer : temporal;
  return name === 'docker' ? docker : postgres;
}

/** In start order: the real Temporal server keeps its state in the stack's Postgres, so it comes after it. */
function selected(s: StackSettings, only?: ComponentName[]): Component[] {
  const names = COMPONENTS.filter((n) => !only || only.includes(n));
  if (s.temporalKind === 'server') names.sort((a, b) => Number(a === 'temporal') - Number(b === 'temporal'));
  return names.map((n) => byName(n, s));
}

/** Make one component running and healthy; the caller holds the stack lock. */
async function ensureRunning(c: Component, s: StackSettings): Promise<void> {
  const st = await c.status(s);
  if (st.state === 'running') return;
  if (st.state === 'unhealthy' && c.name !== 'docker') {
    // Ours but not answering: maybe still starting (its starter was interrupted) or briefly
    // overloaded by other users of the shared stack. Give it the start timeout before replacing it.
    const recovered = await waitUntil(async () => (await isHealthy(c, s)).ok, s.startTimeoutMs, 500);
    if (recovered) return;
    await c.stop(s);
  }
  await c.start(s);
}

function writeEndpoints(s: StackSettings): StackEndpoints {
  const endpoints = endpointsOf(s);
  fs.mkdirSync(s.stateDir, { recursive: true });
  const file = endpointsFile(s);
  // 0600: the database URL carries the password.
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(endpoints, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(`${file}.tmp`, file);
  return endpoints;
}

export async function devUp(opts: StackOptions = {}): Promise<StackEndpoints> {
  const s = stackSettings(opts.env);
  fs.mkdirSync(s.stateDir, { recursive: true });
  return withStackLock(s.stateDir, async () => {
    if (!opts.only || opts.only.includes('temporal')) {
      // The other kind still running on the frontend port would be reported as a foreign holder; say which.
      const other = s.temporalKind === 'server' ? temporal : temporalServer;
      const pid = other.ownPid(s);
      if (pid !== undefined) {
        throw new StackError(
          ErrorCodes.STACK_PORT_IN_USE,
          `this stack runs the Temporal ${s.temporalKind === 'server' ? 'dev server' : 'server'} (pid ${pid}); \`swerl dev down --only temporal\` first to switch to the ${s.temporalKind === 'server' ? 'real server' : 'dev server'}`,
          { component: 'temporal', pid },
        );
      }
      if (s.temporalServerTlsDir && s.temporalKind !== 'server') {
        throw new ConfigError(ErrorCodes.CONFIG_INVALID, 'SWERL_TEMPORAL_SERVER_TLS_DIR needs the real server (`swerl dev up --temporal server`): the dev server has no TLS', {
          variable: 'SWERL_TEMPORAL_SERVER_TLS_DIR',
        });
      }
      fs.writeFileSync(temporalKindFile(s.stateDir), `${s.temporalKind}\n`);
      fs.writeFileSync(temporalTlsDirFile(s.stateDir), `${s.temporalServerTlsDir ?? ''}\n`);
    }
    for (const c of selected(s, opts.only)) await ensureRunning(c, s);
    return writeEndpoints(s);
  });
}

export async function devDown(opts: StackOptions = {}): Promise<void> {
  const s = stackSettings(opts.env);
  if (!fs.existsSync(s.stateDir)) return;
  await withStackLock(s.stateDir, async () => {
    // Reverse order: Temporal before the Postgres it may keep its state in, both before Docker.
    for (const c of selected(s, opts.only).reverse()) {
      await c.stop(s);
      // Either kind of Temporal this stack started, whichever the settings name.
      if (c.name === 'temporal') await (c === temporal ? temporalServer : temporal).stop(s);
    }
  });
}

export async function devStatus(opts: Pick<StackOptions, 'env'> = {}): Promise<ComponentStatus[]> {
  const s = stackSettings(opts.env);
  return Promise.all(COMPONENTS.map((n) => byName(n, s).status(s)));
}

/** For fault tests: signal the component's main process and wait until it (and its children) are gone. */
export async function killComponent(name: 'temporal' | 'postgres', signal: NodeJS.Signals, opts: Pick<StackOptions, 'env'> = {}): Promise<void> {
  const s = stackSettings(opts.env);
  const c = byName(name, s);
  await withStackLock(s.stateDir, async () => {
    const pid = c.ownPid(s);
    if (pid === undefined) {
      throw new StackError(ErrorCodes.STACK_NOT_RUNNING, `${name} is not running in ${s.stateDir}; nothing to kill`, { component: name });
    }
    // Signal the main process only (what a crash looks like), then wait for the whole group:
    // postgres backends must be gone before a new postmaster can take the shared memory.
    try {
      process.kill(pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
    const gone = await waitGone(pid, { group: true, timeoutMs: 30_000 });
    if (!gone) {
      throw new StackError(ErrorCodes.STACK_START_FAILED, `${name} (pid ${pid}) is still alive 30 s after ${signal}`, { component: name, pid, signal });
    }
  });
}

/** Start one component (e.g. after killComponent) and wait until it is healthy. */
export async function startComponent(name: ComponentName, opts: Pick<StackOptions, 'env'> = {}): Promise<void> {
  const s = stackSettings(opts.env);
  fs.mkdirSync(s.stateDir, { recursive: true });
  await withStackLock(s.stateDir, async () => {
    await ensureRunning(byName(name, s), s);
    writeEndpoints(s);
  });
}

/** Endpoints of a stack that some process brought up, from <stateDir>/endpoints.json. */
export function readEndpoints(env: NodeJS.ProcessEnv = process.env): StackEndpoints {
  const file = endpointsFile(stackSettings(env));
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as StackEndpoints;
  } catch (err) {
    throw new StackError(ErrorCodes.STACK_NOT_RUNNING, `no dev stack endpoints at ${file}; run \`swerl dev up\``, { file }, { cause: err });
  }
}
