/**
 * The Docker daemon that hosts sandboxes. Usually already running (started by the machine or by
 * another developer); we only start dockerd when nothing answers on the socket, and we only ever
 * stop a dockerd whose pid file we wrote ourselves.
 */
import fs from 'node:fs';
import path from 'node:path';
import Docker from 'dockerode';
import { type Component, type ComponentStatus, isHealthy, waitHealthy } from './component';
import { aptInstall } from './install';
import { findOnPath, isAlive, livePidFromFile, signalAndWait, spawnDetached, waitUntil } from './process';
import { type StackSettings } from './settings';

export function dockerFiles(s: StackSettings): { dir: string; log: string; pidFile: string } {
  const dir = path.join(s.stateDir, 'docker');
  return { dir, log: path.join(dir, 'dockerd.log'), pidFile: path.join(dir, 'dockerd.pid') };
}

function dockerdBinary(): string {
  const found = findOnPath('dockerd', ['/usr/sbin', '/usr/bin']);
  if (found) return found;
  aptInstall('docker', 'docker.io');
  return findOnPath('dockerd', ['/usr/sbin', '/usr/bin']) ?? '/usr/sbin/dockerd';
}

/** The daemon's own pid, whoever started it (dockerd writes /var/run/docker.pid by default). */
function daemonPid(): number | undefined {
  return livePidFromFile('/var/run/docker.pid', 'dockerd', false);
}

export const docker: Component = {
  name: 'docker',

  url: (s) => `unix://${s.dockerSocket}`,

  ownPid: (s) => livePidFromFile(dockerFiles(s).pidFile, 'dockerd'),

  async health(s) {
    await new Docker({ socketPath: s.dockerSocket, timeout: 5000 }).ping();
  },

  async status(s): Promise<ComponentStatus> {
    const url = this.url(s);
    const own = this.ownPid(s);
    const pid = own ?? daemonPid();
    const h = await isHealthy(this, s);
    const detail = own === undefined && h.ok ? 'not started by this stack; never stopped by it' : h.reason;
    if (h.ok) return { name: 'docker', state: 'running', pid, url, detail };
    return { name: 'docker', state: pid === undefined ? 'stopped' : 'unhealthy', pid, url, detail };
  },

  async start(s) {
    const files = dockerFiles(s);
    fs.mkdirSync(files.dir, { recursive: true });
    // -H makes the daemon listen where our health check (and DOCKER_HOST) look.
    const child = spawnDetached(dockerdBinary(), ['-H', `unix://${s.dockerSocket}`], { logFile: files.log, cwd: files.dir });
    if (child.pid > 0) fs.writeFileSync(files.pidFile, `${child.pid}\n`);
    let exited: string | undefined;
    void child.exited.then((r) => (exited = r));
    try {
      await waitHealthy(this, s, { logFile: files.log, exited: child.exited });
    } catch (err) {
      // Lost a start race: another dockerd took the pid file lock and answers. Not ours to own.
      const other = exited !== undefined && (await waitUntil(async () => (await isHealthy(this, s)).ok, s.startTimeoutMs, 250));
      if (other) {
        fs.rmSync(files.pidFile, { force: true });
        return;
      }
      if (!isAlive(child.pid)) fs.rmSync(files.pidFile, { force: true });
      throw err;
    }
    if (!isAlive(child.pid)) fs.rmSync(files.pidFile, { force: true });
  },

  async stop(s) {
    const pid = this.ownPid(s);
    if (pid === undefined) return;
    // Containers keep running under containerd-shim; dockerd itself shuts down within seconds.
    await signalAndWait(pid, 'SIGTERM', { timeoutMs: 30_000, escalate: false });
    fs.rmSync(dockerFiles(s).pidFile, { force: true });
  },
};
