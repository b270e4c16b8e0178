/**
 * The agent's tools end to end in a real container of the base image: assistant text → parseAction →
 * renderActionCommand → `docker exec bash -c` as the agent user → observation. Each exec is a new
 * process, so these tests also prove that the open file, the window and the directory survive
 * between turns. Expected observations are written out by hand.
 */
import Docker from 'dockerode';
import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, type Sandbox, type SandboxLimits } from '../../activities/sandbox';
import {
  innerRenderOptions,
  parseAction,
  renderActionCommand,
  renderFormatErrorCommand,
  renderPromptCommand,
  type RenderOptions,
} from '../../core/actions';
import { extractSubmission, parsePromptLine } from '../../core/observation';
import { ensureBaseImage } from '../../sandbox/images';

const docker = new Docker();
let container: Docker.Container;

interface ExecResult {
  out: string;
  exitCode: number;
  ms: number;
}

async function exec(command: string): Promise<ExecResult> {
  const t0 = performance.now();
  const e = await container.exec({ Cmd: ['bash', '-c', command], User: '1000', AttachStdout: true, AttachStderr: true });
  const stream = await e.start({ hijack: true, stdin: false });
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const chunks: Buffer[] = [];
  const errChunks: Buffer[] = [];
  stdout.on('data', (c: Buffer) => chunks.push(c));
  stderr.on('data', (c: Buffer) => errChunks.push(c));
  docker.modem.demuxStream(stream, stdout, stderr);
  await new Promise<void>((resolve, reject) => {
    stream.on('end', () => resolve());
    stream.on('error', reject);
  });
  const info = await e.inspect();
  const err = Buffer.concat(errChunks).toString('utf8');
  // The tools write observations to stdout only; anything on stderr is a bug in the tools.
  expect(err).toBe('');
  return { out: Buffer.concat(chunks).toString('utf8'), exitCode: info.ExitCode ?? -1, ms: performance.now() - t0 };
}

/** One agent turn: the assistant's text in, the observation out. */
async function turn(assistantText: string, opts?: RenderOptions): Promise<ExecResult> {
  const parsed = parseAction(assistantText);
  const command = parsed.ok ? renderActionCommand(parsed.action, opts) : renderFormatErrorCommand(parsed.error);
  return exec(command);
}

const cmd = (body: string) => `Next step.\n\`\`\`\n${body}\n\`\`\``;
const prompt = (open: string | null, cwd = '/repo') => `(Open file: ${open ?? 'n/a'}) (Current directory: ${cwd}) bash-$`;
const numbered = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => `${from + i}:line ${from + i}`);

const CALC = 'def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n';

beforeAll(async () => {
  const image = await ensureBaseImage();
  container = await docker.createContainer({
    Image: image,
    Cmd: ['sleep', 'infinity'],
    User: '1000',
    Labels: { 'swerl.test': 'tools' },
    HostConfig: { NetworkMode: 'none', CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges'], AutoRemove: false },
  });
  await container.start();
  const setup = await exec(`set -e
cd /repo
mkdir -p src tests
seq 1 230 | sed 's/^/line /' > src/long.txt
cat > src/calc.py <<'EOF'
${CALC}EOF
printf 'from src.calc import add\\n\\ndef test_add():\\n    assert add(1, 2) == 3\\n' > tests/test_calc.py
printf 'import sys\\n' > conftest.py
git init -q && git add -A && git commit -qm base && echo ready`);
  expect(setup.out).toBe('ready\n');
});

afterAll(async () => {
  await container?.remove({ force: true });
});

describe('prompt line and format errors', () => {
  it('prints the initial prompt line', async () => {
    expect(await exec(renderPromptCommand())).toEqual(expect.objectContaining({ out: prompt(null), exitCode: 0 }));
  });

  it('turns a format error into an observation that ends with the prompt line', async () => {
    const r = await turn('I think the bug is in calc.py but I will not run anything.');
    expect(r.out).toBe(
      'Your response did not contain a command block, so nothing was run.\n' +
        'Every response must contain your reasoning followed by exactly ONE command block, fenced with triple backticks:\n' +
        '```\n<command>\n```\n' + prompt(null));
    const two = await turn('```\nls\n```\n```\npwd\n```');
    expect(two.out.startsWith('Your response contained 2 command blocks; exactly one is allowed per response')).toBe(true);
    expect(two.out.endsWith(`\n${prompt(null)}`)).toBe(true);
    const bad = await turn(cmd('goto abc'));
    expect(bad.out).toBe(`Usage: \`goto <line_number>\` (a positive integer)\nNothing was run.\n${prompt(null)}`);
  });

  it('window tools need an open file', async () => {
    for (const t of ['goto 3', 'scroll_down', 'scroll_up', 'search_file x']) {
      const r = await turn(cmd(t));
      expect(r.out, t).toBe(`No file open. Use the open command first.\n${prompt(null)}`);
      expect(r.exitCode).toBe(1);
    }
  });
});

describe('file windows', () => {
  const LONG = '/repo/src/long.txt';
  const header = `[File: ${LONG} (230 lines total)]`;

  it('open shows the first 100 numbered lines', async () => {
    const r = await turn(cmd('open src/long.txt'));
    expect(r.out).toBe([header, ...numbered(1, 100), '(130 more lines below)', prompt(LONG)].join('\n'));
    expect(r.exitCode).toBe(0);
  });

  it('goto centres the line, scrolling moves by a window and stops at the ends', async () => {
    expect((await turn(cmd('goto 150'))).out).toBe(
      [header, '(99 more lines above)', ...numbered(100, 199), '(31 more lines below)', prompt(LONG)].join('\n'));
    expect((await turn(cmd('scroll_down'))).out).toBe(
      [header, '(130 more lines above)', ...numbered(131, 230), prompt(LONG)].join('\n'));
    expect((await turn(cmd('scroll_up'))).out).toBe(
      [header, '(30 more lines above)', ...numbered(31, 130), '(100 more lines below)', prompt(LONG)].join('\n'));
    expect((await turn(cmd('scroll_up'))).out).toBe([header, ...numbered(1, 100), '(130 more lines below)', prompt(LONG)].join('\n'));
    expect((await turn(cmd('open src/long.txt 10'))).out).toBe(
      [header, ...numbered(1, 100), '(130 more lines below)', prompt(LONG)].join('\n'));
  });

  it('out-of-range lines, missing files and directories are error observations', async () => {
    const past = await turn(cmd('goto 231'));
    expect(past).toEqual(expect.objectContaining({
      out: `Error: line 231 is out of range: the file has 230 lines.\n${prompt(LONG)}`, exitCode: 1 }));
    expect((await turn(cmd('open src/long.txt 500'))).out).toBe(`Error: line 500 is out of range: the file has 230 lines.\n${prompt(LONG)}`);
    expect((await turn(cmd('open src/nope.py'))).out).toBe(`Error: File /repo/src/nope.py not found\n${prompt(LONG)}`);
    expect((await turn(cmd('open src'))).out).toBe(
      `Error: /repo/src is a directory. You can only open files. Use cd or ls to navigate directories.\n${prompt(LONG)}`);
  });

  it('search_file finds literal matches in the open file or a given one', async () => {
    expect((await turn(cmd('search_file "line 23"'))).out).toBe([
      'Found 2 matches for "line 23" in /repo/src/long.txt:', 'Line 23:line 23', 'Line 230:line 230',
      'End of matches for "line 23" in /repo/src/long.txt', prompt(LONG)].join('\n'));
    expect((await turn(cmd('search_file "a +" src/calc.py'))).out).toBe([
      'Found 1 matches for "a +" in /repo/src/calc.py:', 'Line 2:    return a + b',
      'End of matches for "a +" in /repo/src/calc.py', prompt(LONG)].join('\n'));
    expect((await turn(cmd('search_file "line 2.*"'))).out).toBe(`No matches found for "line 2.*" in ${LONG}\n${prompt(LONG)}`);
    expect((await turn(cmd('search_file line'))).out).toBe(
      `More than 100 lines matched for "line" in ${LONG} (230 lines). Please narrow your search.\n${prompt(LONG)}`);
  });

  it('create makes and opens a one-line file, and refuses to overwrite', async () => {
    expect((await turn(cmd('create src/pkg/new_mod.py'))).out).toBe(
      `[File: /repo/src/pkg/new_mod.py (1 lines total)]\n1:\n${prompt('/repo/src/pkg/new_mod.py')}`);
    expect((await turn(cmd('create src/calc.py'))).out).toBe([
      "Error: File '/repo/src/calc.py' already exists.", '[File: /repo/src/calc.py (6 lines total)]',
      '1:def add(a, b):', '2:    return a + b', '3:', '4:', '5:def sub(a, b):', '6:    return a - b', prompt('/repo/src/calc.py')].join('\n'));
  });
});

describe('edit', () => {
  const CALC_PATH = '/repo/src/calc.py';
  const catCalc = async () => (await exec('cat /repo/src/calc.py')).out;
  const hostile = `    return a + b  # "$HOME" \`id\` 'q' $(echo hi) \\n end_of_edit SWERL_EOF_0 é`;

  it('replaces a line range with hostile text byte for byte and shows the edited window', async () => {
    await turn(cmd('open src/calc.py'));
    const r = await turn(cmd(`edit 2:2\n${hostile}\nSWERL_EOF_0\nend_of_edit`));
    expect(r.out).toBe([
      `[File: ${CALC_PATH} (7 lines total)]`, '1:def add(a, b):', `2:${hostile}`, '3:SWERL_EOF_0', '4:', '5:', '6:def sub(a, b):',
      '7:    return a - b',
      'File updated. Please review the changes and make sure they are correct (correct indentation, no duplicate lines, etc). Edit the file again if necessary.',
      prompt(CALC_PATH)].join('\n'));
    expect(await catCalc()).toBe(`def add(a, b):\n${hostile}\nSWERL_EOF_0\n\n\ndef sub(a, b):\n    return a - b\n`);
  });

  it('deletes lines when the replacement is empty', async () => {
    const r = await turn(cmd('edit 3:3\nend_of_edit'));
    expect(r.exitCode).toBe(0);
    expect(await catCalc()).toBe(`def add(a, b):\n${hostile}\n\n\ndef sub(a, b):\n    return a - b\n`);
  });

  it('rejects an edit that breaks Python syntax and leaves the file unchanged', async () => {
    const before = await catCalc();
    const r = await turn(cmd('edit 6:6\n    return (a -\nend_of_edit'));
    expect(r.exitCode).toBe(1);
    expect(r.out).toBe([
      'Your proposed edit has introduced new syntax error(s). Please read this error message carefully and then retry editing the file.',
      '',
      'ERRORS:',
      "- line 6: SyntaxError: '(' was never closed",
      '',
      'This is how your edit would have looked if applied',
      '-------------------------------------------------',
      '1:def add(a, b):', `2:${hostile}`, '3:', '4:', '5:def sub(a, b):', '6:    return (a -',
      '-------------------------------------------------',
      '',
      'This is the original code before your edit',
      '-------------------------------------------------',
      '1:def add(a, b):', `2:${hostile}`, '3:', '4:', '5:def sub(a, b):', '6:    return a - b',
      '-------------------------------------------------',
      'Your changes have NOT been applied. Please fix your edit command and try again.',
      prompt(CALC_PATH)].join('\n'));
    expect(await catCalc()).toBe(before);
  });

  it('rejects out-of-range edits with a clear message', async () => {
    const before = await catCalc();
    const r = await turn(cmd('edit 7:9\nx = 1\nend_of_edit'));
    expect(r.out).toBe(
      `Error: edit range 7:9 is out of range: the file has 6 lines, so 1 <= start <= end <= 6 is required. Nothing was changed.\n${prompt(CALC_PATH)}`);
    expect(await catCalc()).toBe(before);
  });

  it('restores the clean file with a multi-line edit', async () => {
    const r = await turn(cmd('edit 1:6\ndef add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\nend_of_edit'));
    expect(r.exitCode).toBe(0);
    expect(await catCalc()).toBe(CALC);
  });

  it('keeps CRLF line endings and bytes that are not UTF-8 in the lines it does not touch', async () => {
    await exec(`printf 'a\\r\\nb\\r\\nc\\r\\n' > /tmp/crlf.txt && printf 'x = "\\xe9"\\ny = 1\\n' > /tmp/latin1.py`);
    await turn(cmd('open /tmp/crlf.txt'));
    expect((await turn(cmd('edit 2:2\nB1\nB2\nend_of_edit'))).exitCode).toBe(0);
    expect((await exec('od -An -c /tmp/crlf.txt | tr -s " "')).out).toBe(' a \\r \\n B 1 \\r \\n B 2 \\r \\n c \\r \\n\n');
    // a file that never compiled (here: not UTF-8) is not syntax-checked, so it stays editable
    await turn(cmd('open /tmp/latin1.py'));
    expect((await turn(cmd('edit 2:2\ny = 2\nend_of_edit'))).exitCode).toBe(0);
    expect((await exec('od -An -c /tmp/latin1.py | tr -s " "')).out).toBe(' x = " 351 " \\n y = 2 \\n\n');
  });

  it('fills a created file with edit 1:1', async () => {
    await turn(cmd('create src/pkg/fresh.py'));
    await turn(cmd('edit 1:1\nVALUE = "$x"\nend_of_edit'));
    expect((await exec('cat /repo/src/pkg/fresh.py')).out).toBe('VALUE = "$x"\n');
  });
});

describe('shell commands', () => {
  it('keeps the directory across execs, but not variables', async () => {
    expect((await turn(cmd('cd src'))).out).toBe(
      `Your command ran successfully and did not produce any output.\n${prompt('/repo/src/pkg/fresh.py', '/repo/src')}`);
    expect((await turn(cmd('pwd; export FOO=1'))).out).toBe(`/repo/src\n${prompt('/repo/src/pkg/fresh.py', '/repo/src')}`);
    expect((await turn(cmd('echo "[$FOO]"'))).out).toBe(`[]\n${prompt('/repo/src/pkg/fresh.py', '/repo/src')}`);
    const ex = await turn(cmd('cd /tmp && exit 3'));
    expect(ex).toEqual(expect.objectContaining({
      out: `Your command produced no output and exited with status 3.\n${prompt('/repo/src/pkg/fresh.py', '/tmp')}`, exitCode: 3 }));
    const failed = await turn(cmd('cd /nonexistent'));
    expect(failed.out).toBe(`bash: line 1: cd: /nonexistent: No such file or directory\n${prompt('/repo/src/pkg/fresh.py', '/tmp')}`);
    expect(failed.exitCode).toBe(1);
    await turn(cmd('cd /repo'));
  });

  it('rewrites the state file only when a command moved the directory', async () => {
    // Saved by write-then-rename: a rewrite is a new inode.
    const inode = async () => (await exec('stat -c %i ~/.swerl_state.json')).out.trim();
    await turn(cmd('cd /repo'));
    const before = await inode();
    expect(before).toMatch(/^\d+$/);
    expect((await turn(cmd('true'))).out).toBe(`Your command ran successfully and did not produce any output.\n${prompt('/repo/src/pkg/fresh.py')}`);
    expect((await turn(cmd('cd /repo && echo same'))).out).toBe(`same\n${prompt('/repo/src/pkg/fresh.py')}`);
    expect(await inode()).toBe(before);
    expect((await turn(cmd('cd src'))).out).toBe(`Your command ran successfully and did not produce any output.\n${prompt('/repo/src/pkg/fresh.py', '/repo/src')}`);
    expect(await inode()).not.toBe(before);
    await turn(cmd('cd /repo'));
  });

  it('passes quotes, $, backticks, here-documents and the delimiter through unchanged', async () => {
    const r = await turn(cmd(`echo '$HOME' "a\\\`b" 'it'"'"'s'\ncat <<'EOF'\nSWERL_EOF_0\n$(not run)\nEOF`));
    expect(r.out).toBe(`$HOME a\`b it's\nSWERL_EOF_0\n$(not run)\n${prompt('/repo/src/pkg/fresh.py')}`);
  });

  it('carries a 60 KB command with many lines byte for byte', async () => {
    const content = Array.from({ length: 6000 }, (_, i) => `line ${String(i).padStart(4, '0')} $x \`y\` 'z'\n`).join('');
    const r = await turn(cmd(`cat > /tmp/big.txt <<'EOF'\n${content}EOF\nwc -l < /tmp/big.txt; sha1sum < /tmp/big.txt | cut -c1-40`));
    expect(r.out).toBe(`6000\n${createHash('sha1').update(content).digest('hex')}\n${prompt('/repo/src/pkg/fresh.py')}`);
  });

  it('runs tools nested in a shell command with one prompt line at the end', async () => {
    const r = await turn(cmd('cd src && open calc.py 6 && goto 1 > /dev/null'));
    expect(r.out).toBe([
      '[File: /repo/src/calc.py (6 lines total)]', ...CALC.trimEnd().split('\n').map((l, i) => `${i + 1}:${l}`),
      prompt('/repo/src/calc.py', '/repo/src')].join('\n'));
    const nestedSubmit = await turn(cmd('cd /repo; submit'));
    expect(nestedSubmit.out).toBe(`Error: submit must be the only command in its command block.\n${prompt('/repo/src/calc.py')}`);
  });

  it('kills a command at the timeout, and a background job does not hold the turn', async () => {
    const slow = await turn(cmd('echo start; sleep 30; echo never'), { timeoutSec: 2 });
    expect(slow.out).toBe(`start\n[Command timed out after 2 seconds and was killed.]\n${prompt('/repo/src/calc.py')}`);
    expect(slow.exitCode).toBe(124);
    expect(slow.ms).toBeLessThan(10_000);
    const bg = await turn(cmd('sleep 60 & echo started'));
    expect(bg.out).toBe(`started\n${prompt('/repo/src/calc.py')}`);
    expect(bg.ms).toBeLessThan(10_000);
  });

  it('cuts long output in the middle at the byte limit', async () => {
    // seq 1 100000 prints 9·2 + 90·3 + 900·4 + 9000·5 + 90000·6 + 7 = 588895 bytes
    const r = await turn(cmd('seq 1 100000'), { outputLimitBytes: 1000 });
    const [head, rest] = r.out.split('\n[... 587895 bytes of output omitted; 588895 bytes in total ...]\n');
    expect(head!.startsWith('1\n2\n3\n')).toBe(true);
    expect(head!.length).toBe(500);
    expect(rest).toMatch(/\n99999\n100000\n\(Open file: \/repo\/src\/calc\.py\) \(Current directory: \/repo\) bash-\$$/);
  });
});

describe('submit', () => {
  it('prints the patch of source changes (tracked, untracked, committed), not tests, and leaves the index alone', async () => {
    await turn(cmd(
      'sed -i "s/a - b/b - a/" src/calc.py && echo "x = 1" > src/extra.py && echo "# edited" >> tests/test_calc.py' +
        ' && echo "# c" >> conftest.py && python3 -c "import src.calc" && git add src/extra.py'));
    await turn(cmd('echo "tracked later" > notes.txt && git add notes.txt && git commit -qm "agent commit"'));
    const status = (await exec('cd /repo && git status --porcelain')).out;
    const r = await turn(cmd('submit'));
    expect(r.exitCode).toBe(0);
    const patch = extractSubmission(r.out);
    expect(patch).toBeDefined();
    const files = [...patch!.matchAll(/^diff --git a\/(\S+) /gm)].map((m) => m[1]);
    // src/pkg/* were created by earlier tests; __pycache__, tests/ and conftest.py are excluded
    expect(files).toEqual(['notes.txt', 'src/calc.py', 'src/extra.py', 'src/pkg/fresh.py', 'src/pkg/new_mod.py']);
    expect(patch).toContain('-    return a - b\n+    return b - a\n');
    expect(parsePromptLine(r.out)).toEqual({ openFile: '/repo/src/calc.py', cwd: '/repo' });
    expect((await exec('cd /repo && git status --porcelain')).out).toBe(status);
    // the patch applies to a clean checkout of the base commit
    const base = (await exec('cd /repo && git rev-list --max-parents=0 HEAD')).out.trim();
    const apply = await exec(`rm -rf /tmp/clean && git clone -q /repo /tmp/clean && cd /tmp/clean && git checkout -q ${base} && git apply --check --whitespace=nowarn - <<'PATCH_EOF'\n${patch}PATCH_EOF\necho applies`);
    expect(apply.out).toBe('applies\n');
  });

  it('prints an empty patch when nothing changed', async () => {
    await exec('cd /repo && git stash -q -u && git reset -q --hard HEAD~1');
    const r = await turn(cmd('submit'));
    expect(r.out).toBe(`<<SWERL_SUBMISSION>>\n<<SWERL_SUBMISSION_END>>\n${prompt('/repo/src/calc.py')}`);
  });

  it('sees a same-size edit made in the same second as the last index write', async () => {
    // git trusts cached stats of files older than the index: a submit that copied the index with a
    // fresh mtime missed this edit in 5 of 9 host runs before the fix
    const r = await exec('cd /repo && sed -i "s/a - b/a + b/" src/calc.py && git commit -qam same-second' +
      ' && sed -i "s/a + b/a * b/" src/calc.py && /opt/swerl/tools/bin/submit');
    expect(extractSubmission(r.out)).toContain('-    return a - b\n+    return a * b\n');
  });
});

describe('through the sandbox activity (exec wrapper, tmpfs /tmp, snapshot and resume)', () => {
  const limits: SandboxLimits = { cpus: 0.5, memoryMiB: 512, pidsLimit: 128, outputLimitBytes: 8192, commandTimeoutSec: 6, user: '1000:1000' };
  const sandboxes: Sandbox[] = [];
  const images: string[] = [];
  const start = async (image: string, episode: string) => {
    const sb = await createSandbox(docker, { image, limits, labels: { run: 'tools-test', episode }, leaseTtlSec: 600 });
    sandboxes.push(sb);
    return sb;
  };
  const agentTurn = async (sb: Sandbox, text: string) => {
    const parsed = parseAction(text);
    const command = parsed.ok ? renderActionCommand(parsed.action, innerRenderOptions(limits)) : renderFormatErrorCommand(parsed.error);
    return sb.exec(command);
  };

  afterAll(async () => {
    for (const sb of sandboxes) await sb.destroy();
    for (const id of images) await docker.getImage(id).remove({ force: true }).catch(() => undefined);
  });

  it('keeps the tool state across execs and across a snapshot, and times out inside the wrapper', async () => {
    const sb = await start(await ensureBaseImage(), 'tools-a');
    const setup = await sb.exec("cd /repo && printf 'a\\nb\\n' > f.txt && mkdir d && git init -q && git add -A && git commit -qm b && echo ok");
    expect(setup.output).toBe('ok\n');
    expect((await agentTurn(sb, cmd('open f.txt'))).output).toBe(`[File: /repo/f.txt (2 lines total)]\n1:a\n2:b\n${prompt('/repo/f.txt')}`);
    expect((await agentTurn(sb, cmd('cd d'))).output).toBe(
      `Your command ran successfully and did not produce any output.\n${prompt('/repo/f.txt', '/repo/d')}`);

    // the tools' own timeout (innerRenderOptions: 6 s -> 5 s) fires before the wrapper's
    const slow = await agentTurn(sb, cmd('sleep 30'));
    expect(slow).toEqual(expect.objectContaining({ timedOut: false, exitCode: 124,
      output: `[Command timed out after 5 seconds and was killed.]\n${prompt('/repo/f.txt', '/repo/d')}` }));
    // and the tools' output cap keeps the prompt line under the wrapper's
    const loud = await agentTurn(sb, cmd('seq 1 100000'));
    expect(loud.truncated).toBe(false);
    expect(loud.output.endsWith(`100000\n${prompt('/repo/f.txt', '/repo/d')}`)).toBe(true);

    const image = await sb.snapshot();
    images.push(image);
    const resumed = await start(image, 'tools-b');
    expect((await agentTurn(resumed, cmd('goto 2'))).output).toBe(`[File: /repo/f.txt (2 lines total)]\n1:a\n2:b\n${prompt('/repo/f.txt', '/repo/d')}`);
    expect((await agentTurn(resumed, 'no block here')).output.endsWith(`\n${prompt('/repo/f.txt', '/repo/d')}`)).toBe(true);
  });
});
