/**
 * The sandbox's tool server against hostile agents (issue 15): the agent cannot kill PID 1 or the
 * server, a dead server is replaced on the next command, and the end-of-episode diff neither runs
 * what the agent put in .git nor overflows on big files.
 */
import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, type SwerlError } from '../../core/errors';
import { createSandbox, type Sandbox, type SandboxLimits } from '../../activities/sandbox';
import { parseAction, renderActionCommand } from '../../core/actions';
import { ensureBaseImage } from '../../sandbox/images';

const docker = new Docker();
const RUN = `sandbox-toolserver-${process.pid}`;
const limits: SandboxLimits = { cpus: 0.5, memoryMiB: 512, pidsLimit: 64, outputLimitBytes: 65536, commandTimeoutSec: 60, user: '1000:1000' };
const created: Sandbox[] = [];
let image: string;

async function newSandbox(episode: string): Promise<Sandbox> {
  const sb = await createSandbox(docker, { image, limits, labels: { run: RUN, episode }, leaseTtlSec: 600 });
  created.push(sb);
  return sb;
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (err: SwerlError) => err.code,
  );
}

/** A repository the agent owns, with one commit, set up by the agent itself. */
async function repoSandbox(episode: string): Promise<Sandbox> {
  const sb = await newSandbox(episode);
  const init = await sb.exec('cd /repo && git init -q && echo "x = 1" > a.py && git add a.py && git commit -qm base && git rev-parse HEAD');
  expect(init.exitCode).toBe(0);
  return sb;
}

beforeAll(async () => {
  image = await ensureBaseImage();
});

afterAll(async () => {
  await Promise.all(created.map((s) => s.destroy().catch(() => undefined)));
});

describe('the agent against its own sandbox', () => {
  it('cannot kill PID 1, the root sleep or the tool server; commands have no capabilities', async () => {
    const sb = await newSandbox('killer');
    const r = await sb.exec('kill -9 -1; pkill -9 sleep; pkill -9 python3; kill -9 1; echo still-here');
    expect(r.output).toContain('still-here');
    const after = await sb.exec('id -u; ps -o user= -p 1; grep CapEff /proc/self/status');
    expect(after.output).toBe('1000\nroot\nCapEff:\t0000000000000000\n');
    const info = await docker.getContainer(sb.containerId).inspect();
    expect(info.State.Running).toBe(true);
    // The same server answered throughout.
    expect((sb as unknown as { serverStarts: number }).serverStarts).toBe(1);
  });

  it("a shell command starts as the agent alone: own session, fds 0-2, no extra groups, default SIGPIPE, the image's environment", async () => {
    const sb = await newSandbox('exec-steps');
    // $$ is the command's bash: its session id is its own pid (setsid) and its parent is the server.
    const r = await sb.exec(
      [
        'test "$(ps -o sid= -p $$ | tr -d " ")" = "$$" && echo own-session',
        'id -u; id -G',
        'grep -E "^(SigIgn|CapEff)" /proc/self/status',
        'env | grep -c "^SWERL_SERVER_" || true',
        'echo "home=$HOME"',
        'ps -o user=,args= -p $PPID',
      ].join('; '),
    );
    expect(r.exitCode).toBe(0);
    const lines = r.output.split('\n');
    expect(lines[0]).toBe('own-session');
    expect(lines.slice(1, 5)).toEqual(['1000', '1000', 'SigIgn:\t0000000000000000', 'CapEff:\t0000000000000000']);
    expect(lines[5]).toBe('0');
    expect(lines[6]).toBe('home=/home/agent');
    expect(lines[7]).toMatch(/^root +python3 .*swerl_tools\.server/);
    // A lone command is exec'd by bash itself: $$ is `ls`, holding 0-2 and its directory (3).
    expect((await sb.exec('ls /proc/$$/fd')).output).toBe('0\n1\n2\n3\n');
    // A directory the agent cannot enter is not where its command starts (the drop happens after the chdir).
    const locked = await sb.exec('pwd', { cwd: '/root' });
    expect(locked.output).toBe('/\n');
    expect((await sb.exec('pwd', { cwd: '/home/agent' })).output).toBe('/home/agent\n');
  });

  it('a command ignores no signal even when the server inherited ignored ones (a CI runner ignored 32)', async () => {
    const sb = await newSandbox('inherited-signals');
    // Root in the container starts a second server the way dockerd would hand it an ignored signal
    // (SIGUSR1, and 32 by the raw system call: glibc refuses it), then runs one command through it.
    const driver = [
      'import ctypes, json, os, signal, struct, subprocess, sys',
      'class K(ctypes.Structure): _fields_ = [(n, ctypes.c_ulong) for n in ("h", "f", "r", "m")]',
      'signal.signal(signal.SIGUSR1, signal.SIG_IGN)',
      'nr = {"x86_64": 13, "aarch64": 134}[os.uname().machine]',
      'assert ctypes.CDLL(None).syscall(ctypes.c_long(nr), ctypes.c_long(32), ctypes.byref(K(1, 0, 0, 0)), None, ctypes.c_ulong(8)) == 0',
      'print([l.strip() for l in open("/proc/self/status") if l.startswith("SigIgn")][0])',
      'boot = "import sys; sys.path.insert(0, \'/opt/swerl/tools/lib\'); from swerl_tools.server import main; sys.exit(main())"',
      'p = subprocess.Popen([sys.executable, "-c", boot], stdin=subprocess.PIPE, stdout=subprocess.PIPE)',
      'def frame():',
      '    n, = struct.unpack(">I", p.stdout.read(4)); return json.loads(p.stdout.read(n))',
      'assert frame()["ready"]',
      'body = json.dumps({"id": 1, "op": "exec", "cmd": "grep SigIgn /proc/self/status", "user": "1000:1000", "timeout": 30, "limit": 4096}).encode()',
      'p.stdin.write(struct.pack(">I", len(body)) + body); p.stdin.flush()',
      'print(json.dumps(frame()))',
    ].join('\n');
    const exec = await docker.getContainer(sb.containerId).exec({ Cmd: ['python3', '-c', driver], User: '0:0', AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({});
    const chunks: Buffer[] = [];
    const out = new PassThrough();
    out.on('data', (c: Buffer) => chunks.push(c));
    docker.modem.demuxStream(stream, out, out);
    await new Promise<void>((resolve) => stream.on('end', () => resolve()));
    const lines = Buffer.concat(chunks).toString('utf8').trim().split('\n');
    // The driver itself ignores 10 and 32 (bits 9 and 31), and Python's own SIGPIPE and SIGXFSZ.
    expect(lines[0]).toBe('SigIgn:\t0000000081001200');
    const reply = JSON.parse(lines[1] ?? '{}') as { ok: boolean; exitCode?: number; output?: string };
    expect(reply.ok).toBe(true);
    expect(reply.exitCode).toBe(0);
    expect(Buffer.from(reply.output ?? '', 'base64').toString('utf8')).toBe('SigIgn:\t0000000000000000\n');
  });

  it('kills whatever a command leaves behind, setsid escapees included', async () => {
    const sb = await newSandbox('escapee');
    const r = await sb.exec('setsid sleep 300 > /dev/null 2>&1 < /dev/null & nohup sleep 301 > /dev/null 2>&1 & echo ok');
    expect(r.output).toBe('ok\n');
    expect((await sb.exec('pgrep -u 1000 -c sleep || true')).output).toBe('0\n');
  });

  it('replaces a tool server that died (e.g. OOM-killed) on the next command', async () => {
    const sb = await newSandbox('server-dies');
    expect((await sb.exec('echo one')).output).toBe('one\n');
    // Killed from outside, as the OOM killer would: root inside the container.
    const exec = await docker.getContainer(sb.containerId).exec({ Cmd: ['pkill', '-9', '-f', 'swerl_tools.server'], User: '0:0', AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({});
    await new Promise<void>((resolve) => {
      stream.on('error', () => resolve());
      stream.on('end', () => resolve());
      stream.on('close', () => resolve());
      stream.resume();
    });
    // The broken stream surfaces on the next request or the one after; never as a hang.
    let out: string | undefined;
    for (let i = 0; i < 3 && out === undefined; i++) {
      out = await sb.exec('echo two').then(
        (r) => r.output,
        (err: SwerlError) => {
          expect([ErrorCodes.SANDBOX_EXEC_FAILED, ErrorCodes.SANDBOX_GONE]).toContain(err.code);
          return undefined;
        },
      );
    }
    expect(out).toBe('two\n');
    expect((sb as unknown as { serverStarts: number }).serverStarts).toBe(2);
  });
});

describe('a shell action run by the server itself', () => {
  // The same actions, rendered as the episode renders them, in two sandboxes: through the server's
  // own shell action, and through the `_swerl_run` executable (a leading space makes the server run
  // the line with bash instead of recognising it). Observations, exit codes and state must match.
  const actions = [
    'true',
    'pwd',
    'cd src',
    'pwd; export FOO=1',
    'echo "[$FOO]"',
    'cd /tmp && exit 3',
    'cd /nonexistent',
    'cd ~ && echo -n partial',
    'echo err >&2; echo out',
    '(exit 0)',
    'for i in $(seq 1 20000); do echo "line $i"; done',
    'cat <<EOF\nhello $HOME\nEOF',
    'cd /repo && open a.py 1',
    'echo "$SWERL_IN_RUN $PAGER $GIT_PAGER"; env | grep -c "^SWERL_STATE_FILE="',
    'sleep 300 & echo background',
    // A directory only the agent may enter (the server, root without DAC capabilities, may not).
    'mkdir -p -m 700 ~/priv && cd ~/priv',
    'pwd; stat -c %a .',
    'cd /repo',
    'kill -9 $$',
    'sleep 30',
    'printf "caf\\xc3\\xa9 \\xff\\n"',
    'pgrep -u 1000 -c sleep || true',
  ];
  // Generous for every action (a loaded 0.5-CPU sandbox), short only for the one that must time out.
  const opts = { timeoutSec: 40, outputLimitBytes: 8192 };
  const timeoutOf = (body: string) => (body === 'sleep 30' ? 2 : opts.timeoutSec);

  it('gives the observation, exit status and state of the _swerl_run executable', async () => {
    const [served, forked] = await Promise.all([repoSandbox('action-served'), repoSandbox('action-forked')]);
    for (const sb of [served, forked]) {
      expect((await sb.exec('mkdir -p /repo/src && printf "x = 1\\ny = 2\\n" > /repo/a.py && echo ok')).output).toBe('ok\n');
    }
    for (const body of actions) {
      const parsed = parseAction(`step\n\`\`\`\n${body}\n\`\`\``);
      if (!parsed.ok) throw new Error(parsed.error.message);
      const cmd = renderActionCommand(parsed.action, { ...opts, timeoutSec: timeoutOf(body) });
      const a = await served.exec(cmd);
      const b = await forked.exec(` ${cmd}`);
      expect({ body, output: a.output, exitCode: a.exitCode, timedOut: a.timedOut }).toEqual({ body, output: b.output, exitCode: b.exitCode, timedOut: b.timedOut });
    }
    const stateOf = (sb: Sandbox) => sb.exec('cat ~/.swerl_state.json; echo; stat -c "%U %a" ~/.swerl_state.json; ls -a ~ | grep "^\\.swerl_state\\." | grep -vc "^\\.swerl_state\\.json$" || true');
    const [sa, sf] = [await stateOf(served), await stateOf(forked)];
    // Each recorded its own repository's base commit (the two commits differ in their timestamps).
    for (const [sb, st] of [[served, sa], [forked, sf]] as const) {
      const head = (await sb.exec('git -C /repo rev-parse HEAD')).output.trim();
      expect(st.output).toContain(`"base_commit": "${head}"`);
    }
    const noBase = (out: string) => out.replace(/"base_commit": "[0-9a-f]{40}"/, '"base_commit": "<head>"');
    expect(noBase(sa.output)).toBe(noBase(sf.output));
    expect(sa.output).toContain('"open_file": "/repo/a.py"');
    expect(sa.output).toContain('agent 600\n0\n');
  });

  it('never reads or writes the state through a link the agent planted', async () => {
    const sb = await repoSandbox('action-symlink');
    const run = async (body: string) => {
      const parsed = parseAction(`step\n\`\`\`\n${body}\n\`\`\``);
      if (!parsed.ok) throw new Error(parsed.error.message);
      return sb.exec(renderActionCommand(parsed.action, opts));
    };
    // The state file replaced by a link to a root-only file: root neither reads it nor writes through it.
    expect((await run('rm -f ~/.swerl_state.json && ln -s /etc/shadow ~/.swerl_state.json && cd /tmp')).exitCode).toBe(0);
    const after = await run('pwd');
    expect(after.output).toBe('/tmp\n(Open file: n/a) (Current directory: /tmp) bash-$');
    const shadow = await sb.exec('ls -l ~/.swerl_state.json | cut -c1; id -u', { user: '1000:1000' });
    expect(shadow.output).toBe('-\n1000\n');
    const rootView = await docker.getContainer(sb.containerId).exec({ Cmd: ['sh', '-c', 'head -c 5 /etc/shadow; echo; stat -c %U /etc/shadow'], User: '0:0', AttachStdout: true, AttachStderr: true });
    const stream = await rootView.start({});
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve) => {
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => resolve());
      stream.on('close', () => resolve());
    });
    const seen = Buffer.concat(chunks).toString('latin1');
    expect(seen).toContain('root:');
    expect(seen).toMatch(/root\n$/);
  });
});

describe('hostile repository state and the end-of-episode diff', () => {
  it('runs no fsmonitor, hook, filter or external diff the agent configured', async () => {
    const sb = await repoSandbox('git-config');
    const trap = (name: string) => `#!/bin/sh\necho ran >> /tmp/${name}-ran\nsleep 600\n`;
    for (const name of ['fsmonitor', 'hook', 'filter', 'extdiff', 'textconv']) await sb.writeFile(`/home/agent/${name}.sh`, trap(name));
    const setup = await sb.exec(
      [
        'chmod +x ~/*.sh && cd /repo',
        'git config core.fsmonitor ~/fsmonitor.sh',
        'git config filter.evil.clean ~/filter.sh && git config filter.evil.smudge ~/filter.sh && git config filter.evil.required true',
        'git config diff.external ~/extdiff.sh && git config diff.evil.textconv ~/textconv.sh',
        'cp ~/hook.sh .git/hooks/pre-commit && cp ~/hook.sh .git/hooks/post-index-change',
        'printf "*.py filter=evil diff=evil\\n" > .gitattributes',
        'echo "x = 2" > a.py && echo new > b.py',
      ].join(' && '),
    );
    expect(setup.exitCode).toBe(0);
    const diff = await sb.gitDiff();
    expect(diff).toContain('diff --git a/a.py b/a.py');
    expect(diff).toContain('+x = 2');
    expect(diff).toContain('diff --git a/b.py b/b.py');
    expect(diff).toContain('diff --git a/.gitattributes b/.gitattributes');
    expect((await sb.exec('ls /tmp | grep -c -- -ran || true')).output).toBe('0\n');
  });

  it('leaves a 40 MB untracked file out of the diff and reports an oversized diff as a code, not a hang', async () => {
    const sb = await repoSandbox('big-files');
    await sb.exec('cd /repo && head -c 40000000 /dev/zero > blob.bin && echo "x = 3" > a.py');
    const diff = await sb.gitDiff();
    expect(diff).toContain('+x = 3');
    expect(diff).not.toContain('blob.bin');
    // A tracked file over the per-file cap that the agent changed cannot be left out: the diff
    // is over the cap and says so with its code (scored as an empty patch by the episode).
    await sb.exec('cd /repo && head -c 2000000 /dev/zero > big.txt && git add big.txt && git commit -qm big && echo more >> big.txt');
    expect(await codeOf(sb.gitDiff())).toBe(ErrorCodes.SANDBOX_DIFF_TOO_LARGE);
  });
});
