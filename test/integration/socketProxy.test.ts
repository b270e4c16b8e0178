/**
 * swerl-docker-proxy (deploy/docker-proxy/main.go) on the real daemon: a sandbox's tool server
 * works through it (the 101 upgrade of an exec start that has a body, which HAProxy did not
 * forward), and every refusal is a 403 after which the daemon holds nothing new, including
 * spellings the daemon itself accepts (lower-case and duplicate keys).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { request } from 'node:http';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, type SandboxLimits } from '../../activities/sandbox';
import { execRaw } from '../../activities/sandbox/exec';
import { ensureDockerProxy } from '../../deploy/dockerProxy';
import { ensureBaseImage } from '../../sandbox/images';

const direct = new Docker();
const RUN = `socket-proxy-${process.pid}`;
const LABEL = 'swerl.test.socketproxy';
const limits: SandboxLimits = { cpus: 0.5, memoryMiB: 256, pidsLimit: 64, outputLimitBytes: 65536, commandTimeoutSec: 60, user: '1000:1000' };
let proxy: ChildProcess;
let base: string;
let viaProxy: Docker;
let image: string;
let proxyLog = '';

beforeAll(async () => {
  const bin = await ensureDockerProxy();
  image = await ensureBaseImage();
  proxy = spawn(bin, ['-listen', '127.0.0.1:0', '-socket', '/var/run/docker.sock'], { stdio: ['ignore', 'pipe', 'pipe'] });
  proxy.stderr!.on('data', (d: Buffer) => (proxyLog = (proxyLog + d.toString()).slice(-8000)));
  const addr = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the proxy did not report its address in 30 s: ${out} ${proxyLog}`)), 30_000);
    proxy.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (\S+)\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    proxy.on('exit', (code) => reject(new Error(`the proxy exited ${code}: ${proxyLog}`)));
  });
  const port = Number(addr.split(':').at(-1));
  base = `http://127.0.0.1:${port}`;
  viaProxy = new Docker({ host: '127.0.0.1', port, protocol: 'http' });
}, 300_000);

afterAll(async () => {
  proxy?.kill('SIGKILL');
  const left = await direct.listContainers({ all: true, filters: { label: [`${LABEL}=${RUN}`] } });
  const sandboxes = await direct.listContainers({ all: true, filters: { label: [`swerl.run=${RUN}`] } });
  await Promise.all([...left, ...sandboxes].map((c) => direct.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
});

async function ours(): Promise<number> {
  return (await direct.listContainers({ all: true, filters: { label: [`${LABEL}=${RUN}`] } })).length;
}

async function call(method: string, path: string, body?: string): Promise<{ status: number; text: string }> {
  const r = await fetch(base + path, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body });
  return { status: r.status, text: await r.text() };
}

/** A create body a sandbox host would send (allowed), with `hostConfig` spliced in as raw JSON. */
const createBody = (hostConfig: string, extra = ''): string =>
  `{"Image":${JSON.stringify(image)},"Cmd":["sleep","60"],"Labels":{${JSON.stringify(LABEL)}:${JSON.stringify(RUN)}},"HostConfig":${hostConfig}${extra}}`;
const SAFE = '"NetworkMode":"none","CapDrop":["ALL"],"CapAdd":["SETUID","SETGID","KILL"],"SecurityOpt":["no-new-privileges"]';

describe('swerl-docker-proxy', () => {
  it('forwards the 101 of an attached exec with a body, so the sandbox tool server works through it', async () => {
    const sb = await createSandbox(viaProxy, { image, limits, labels: { run: RUN, episode: 'through-proxy' }, leaseTtlSec: 600 });
    try {
      // The tool server: an attached exec whose start has a JSON body, upgraded to a raw stream.
      const r = await sb.exec('echo through; id -u');
      expect(r.output).toBe('through\n1000\n');
      expect((await sb.exec('echo again')).output).toBe('again\n');
      // A one-shot exec whose stdin is written then closed (half-close through the upgraded connection).
      const cat = await execRaw(viaProxy.getContainer(sb.containerId), ['cat'], {
        user: '0:0',
        stdin: 'stdin-through-proxy',
        stdoutCap: 4096,
        stderrCap: 4096,
        deadlineMs: 60_000,
        onDeadline: async () => undefined,
      });
      expect(cat.exitCode).toBe(0);
      expect(cat.stdout.toBuffer().toString()).toBe('stdin-through-proxy');
      // The status line itself, on a raw request.
      const execId = ((await (await fetch(`${base}/v1.41/containers/${sb.containerId}/exec`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ Cmd: ['true'], AttachStdout: true }) })).json()) as { Id: string }).Id;
      const status = await new Promise<number>((resolve, reject) => {
        const body = JSON.stringify({ Detach: false, Tty: false });
        const req = request(`${base}/v1.41/exec/${execId}/start`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'Upgrade', upgrade: 'tcp' } });
        req.on('upgrade', (res, socket) => {
          socket.destroy();
          resolve(res.statusCode ?? 0);
        });
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end(body);
      });
      expect(status).toBe(101);
    } finally {
      await sb.destroy();
    }
  });

  it('allows the sandbox-shaped create and a plain exec, and refuses a privileged exec however it is spelled', async () => {
    const created = await call('POST', '/v1.41/containers/create', createBody(`{${SAFE}}`));
    expect(created.status, created.text).toBe(201);
    const id = (JSON.parse(created.text) as { Id: string }).Id;
    expect((await call('POST', `/v1.41/containers/${id}/start`)).status).toBe(204);
    expect((await call('POST', `/v1.41/containers/${id}/exec`, '{"Cmd":["true"]}')).status).toBe(201);
    for (const body of ['{"Cmd":["true"],"Privileged":true}', '{"Cmd":["true"],"privileged":true}', '{"Cmd":["true"],"Privileged":false,"PRIVILEGED":true}']) {
      const r = await call('POST', `/v1.41/containers/${id}/exec`, body);
      expect(r.status, body).toBe(403);
      expect(r.text, body).toContain('privileged exec');
    }
    expect((await call('DELETE', `/v1.41/containers/${id}?force=true`)).status).toBe(204);
    expect(await ours()).toBe(0);
  });

  it('refuses every container that would leave the sandbox, and the daemon creates none of them', async () => {
    const refused: Record<string, string> = {
      privileged: createBody(`{${SAFE},"Privileged":true}`),
      privilegedLowerCase: createBody(`{${SAFE},"privileged":true}`),
      privilegedDuplicate: createBody(`{${SAFE},"Privileged":false,"Privileged":true}`),
      hostConfigLowerCase: createBody(`{${SAFE}}`, ',"hostconfig":{"NetworkMode":"none","Privileged":true}'),
      binds: createBody(`{${SAFE},"Binds":["/:/host"]}`),
      mounts: createBody(`{${SAFE},"Mounts":[{"Type":"bind","Source":"/","Target":"/host"}]}`),
      volumesFrom: createBody(`{${SAFE},"VolumesFrom":["some-container"]}`),
      volumeDriver: createBody(`{${SAFE},"VolumeDriver":"local"}`),
      devices: createBody(`{${SAFE},"Devices":[{"PathOnHost":"/dev/mem","PathInContainer":"/dev/mem","CgroupPermissions":"rwm"}]}`),
      hostPid: createBody(`{${SAFE},"PidMode":"host"}`),
      containerIpc: createBody(`{${SAFE},"IpcMode":"container:abc"}`),
      hostUserns: createBody(`{${SAFE},"UsernsMode":"host"}`),
      hostUts: createBody(`{${SAFE},"UTSMode":"host"}`),
      hostNetwork: createBody(`{${SAFE},"NetworkMode":"host"}`),
      bridgeNetwork: createBody('{"NetworkMode":"bridge","CapDrop":["ALL"]}'),
      defaultNetwork: createBody('{"CapDrop":["ALL"]}'),
      noHostConfig: `{"Image":${JSON.stringify(image)},"Labels":{${JSON.stringify(LABEL)}:${JSON.stringify(RUN)}}}`,
      otherEndpoint: createBody(`{${SAFE}}`, ',"NetworkingConfig":{"EndpointsConfig":{"bridge":{}}}'),
      links: createBody(`{${SAFE},"Links":["other:alias"]}`),
      sysAdmin: createBody(`{${SAFE},"CapAdd":["SETUID","SYS_ADMIN"]}`),
      netAdminLowerCase: createBody(`{${SAFE},"capadd":["cap_net_admin"]}`),
      seccompUnconfined: createBody(`{${SAFE},"SecurityOpt":["seccomp=unconfined"]}`),
      apparmorUnconfined: createBody(`{${SAFE},"SecurityOpt":["no-new-privileges","apparmor=unconfined"]}`),
      systemPathsUnconfined: createBody(`{${SAFE},"SecurityOpt":["systempaths=unconfined"]}`),
      unmaskedPaths: createBody(`{${SAFE},"MaskedPaths":[]}`),
      readonlyPaths: createBody(`{${SAFE},"ReadonlyPaths":[]}`),
      runtime: createBody(`{${SAFE},"Runtime":"runc"}`),
      sysctls: createBody(`{${SAFE},"Sysctls":{"kernel.shm_rmid_forced":"1"}}`),
      cgroupParent: createBody(`{${SAFE},"CgroupParent":"/"}`),
      trailingData: `${createBody(`{${SAFE}}`)}{"HostConfig":{"Privileged":true}}`,
      notJson: 'HostConfig=Privileged',
    };
    for (const [name, body] of Object.entries(refused)) {
      const r = await call('POST', '/v1.41/containers/create', body);
      expect(r.status, `${name}: ${r.text}`).toBe(403);
      expect(r.text, name).toContain('swerl-docker-proxy refused');
    }
    expect(await ours()).toBe(0);
    // The spellings above are not hypothetical: the daemon itself reads a lower-case key and the last duplicate.
    const lower = await direct.createContainer(JSON.parse(createBody(`{${SAFE},"privileged":true}`)) as Docker.ContainerCreateOptions);
    try {
      expect((await lower.inspect()).HostConfig.Privileged).toBe(true);
    } finally {
      await lower.remove({ force: true });
    }
  });

  it('refuses the API sections a sandbox host never uses', async () => {
    const cases: Array<[string, string, string?]> = [
      ['GET', '/v1.41/volumes'],
      ['POST', '/v1.41/volumes/create', '{}'],
      ['GET', '/v1.41/networks'],
      ['POST', '/v1.41/images/create?fromImage=busybox'],
      ['POST', '/v1.41/build'],
      ['DELETE', `/v1.41/images/${image}`],
      ['POST', '/v1.41/images/load'],
      ['POST', '/v1.41/containers/prune'],
      ['POST', '/v1.41/commit?container=x'],
      ['POST', '/v1.41/containers/x/update', '{"Memory":0}'],
      ['GET', '/v1.41/swarm'],
      ['GET', '/v1.41/plugins'],
      ['GET', '/v1.41/secrets'],
      ['POST', '/v1.41/auth', '{}'],
      ['POST', '/v1.41/system/prune'],
      ['POST', '/v1.41/containers/../volumes/create', '{}'],
      ['POST', '/v1.41//containers/create', createBody('{"Privileged":true}')],
    ];
    for (const [method, path, body] of cases) {
      const r = await call(method, path, body);
      expect(r.status, `${method} ${path}: ${r.text}`).toBe(403);
    }
    // What a sandbox host does use still answers.
    for (const path of ['/_ping', '/v1.41/version', '/v1.41/info', '/v1.41/containers/json', `/v1.41/images/${image}/json`]) {
      expect((await call('GET', path)).status, path).toBe(200);
    }
  });
});
