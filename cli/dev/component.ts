/**
 * What the stack needs from each component. Each component owns its files under
 * <stateDir>/<name>/ and knows its own health check; stack.ts only sequences them.
 */
import { ErrorCodes, StackError } from '../../core/errors';
import { commandLine, listenerPid, portTaken, tailFile, waitUntil } from './process';
import { type ComponentName, type StackSettings } from './settings';

export interface ComponentStatus {
  name: ComponentName;
  state: 'running' | 'stopped' | 'unhealthy';
  pid?: number;
  url: string;
  detail?: string;
}

export interface Component {
  readonly name: ComponentName;
  url(s: StackSettings): string;
  /** The pid of the process this stack started, if it is alive. Cleans a stale pid file. */
  ownPid(s: StackSettings): number | undefined;
  /** A real round trip (gRPC call, SELECT 1, Docker ping); throws with the reason when unhealthy. */
  health(s: StackSettings): Promise<void>;
  status(s: StackSettings): Promise<ComponentStatus>;
  /** Start from stopped and wait until healthy. The caller holds the stack lock. */
  start(s: StackSettings): Promise<void>;
  /** Graceful stop of a process this stack started; a no-op when there is none. */
  stop(s: StackSettings): Promise<void>;
}

export async function isHealthy(c: Component, s: StackSettings): Promise<{ ok: boolean; reason?: string }> {
  try {
    await c.health(s);
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  }
}

/** The standard status of a component that runs as one process with a pid file. */
export async function processStatus(c: Component, s: StackSettings, ports: number[]): Promise<ComponentStatus> {
  const url = c.url(s);
  const pid = c.ownPid(s);
  if (pid === undefined) return { name: c.name, state: 'stopped', url, detail: await foreignListener(ports) };
  const h = await isHealthy(c, s);
  return h.ok ? { name: c.name, state: 'running', pid, url } : { name: c.name, state: 'unhealthy', pid, url, detail: h.reason };
}

/** Why a stopped component could not start here: someone else holds its port. */
async function foreignListener(ports: number[]): Promise<string | undefined> {
  for (const port of ports) {
    if (!(await portTaken(port))) continue;
    const holder = listenerPid(port);
    return `port ${port} is held by ${holder === undefined ? 'another process' : `pid ${holder} (${commandLine(holder).slice(0, 80)})`}`;
  }
  return undefined;
}

/** Refuse to start when a port we need is held by a process that is not ours. */
export async function assertPortsFree(component: ComponentName, ports: { port: number; role: string }[]): Promise<void> {
  for (const { port, role } of ports) {
    if (!(await portTaken(port))) continue;
    let holder = listenerPid(port);
    // Right after a SIGKILL the kernel may still hold a listening socket that no process owns;
    // it goes away within moments. Only a port with no owner gets that grace.
    for (let waited = 0; holder === undefined && waited < 5_000 && (await portTaken(port)); waited += 250) {
      await new Promise((r) => setTimeout(r, 250));
      holder = listenerPid(port);
    }
    if (!(await portTaken(port))) continue;
    const who = holder === undefined ? 'another process' : `pid ${holder} (${commandLine(holder).slice(0, 120) || 'unknown'})`;
    throw new StackError(
      ErrorCodes.STACK_PORT_IN_USE,
      `${component}: ${role} port ${port} on 127.0.0.1 is already in use by ${who}, which this stack did not start; ` +
        `stop it or choose another port`,
      { component, port, role, holderPid: holder },
    );
  }
}

/**
 * Poll the health check until it passes. Fails fast with the log tail when the process exits, and
 * with SWERL_STACK_START_FAILED when the timeout passes.
 */
export async function waitHealthy(
  c: Component,
  s: StackSettings,
  opts: { logFile: string; exited?: Promise<string>; alive?: () => boolean },
): Promise<void> {
  let exitReason: string | undefined;
  void opts.exited?.then((r) => (exitReason = r));
  let last: string | undefined;
  const ok = await waitUntil(
    async () => {
      if (exitReason !== undefined || (opts.alive && !opts.alive())) return true;
      const h = await isHealthy(c, s);
      last = h.reason;
      return h.ok;
    },
    s.startTimeoutMs,
    250,
  );
  if (ok && exitReason === undefined && (!opts.alive || opts.alive())) return;
  const why = !ok ? `did not become healthy within ${s.startTimeoutMs} ms (last check: ${last ?? 'n/a'})` : `exited during start-up (${exitReason ?? 'process gone'})`;
  throw new StackError(ErrorCodes.STACK_START_FAILED, `${c.name} ${why}; last lines of ${opts.logFile}:\n${tailFile(opts.logFile)}`, {
    component: c.name,
    logFile: opts.logFile,
  });
}
