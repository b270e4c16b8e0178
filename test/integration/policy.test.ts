/**
 * The policy client against the scripted policy server over real HTTP (no Temporal, no Docker):
 * token ids and logprobs arrive, infra faults surface as retryable SWERL_POLICY_UNAVAILABLE, a
 * context overflow is a model outcome, a lying decoding echo is refused, and a retried turn gets the
 * same answer. Then every toy task's gold script is played as an episode would play it: replies
 * come over HTTP, are parsed by core/actions and run by the real sandbox tools (on the host, in a
 * copy of the task repo), and the submitted patch must leave the files exactly as the gold patch does.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseAction, renderActionCommand, renderFormatErrorCommand, TOOLS_BIN } from '../../core/actions';
import { DecodingSchema } from '../../core/config';
import { ErrorCodes, PolicyError } from '../../core/errors';
import { extractSubmission } from '../../core/observation';
import { instancePrompt, systemPrompt } from '../../core/prompt';
import { parsePatch, parseTaskLine, type Task } from '../../core/tasks';
import { BAD_RESPONSE_ATTEMPTS, complete, type ChatMessage, type PolicyCompletion, type PolicyOutcome } from '../../activities/policy/client';
import { startScriptedPolicyServer, type ScriptedPolicyServer, type ScriptedPolicyServerOptions } from '../../activities/policy/scriptedServer';
import { createScriptBook, garbageScript, goldActions, goldScriptBook, loopScript, scriptFromActions, sequence } from '../../activities/policy/scripts';

const ROOT = resolve(__dirname, '../..');
const TASKS_FILE = join(ROOT, 'tasks/toy/tasks.jsonl');
const tasks: Task[] = readFileSync(TASKS_FILE, 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l, i) => parseTaskLine(l, i + 1));
const decoding = DecodingSchema.parse({});

const servers: ScriptedPolicyServer[] = [];
async function start(opts: Partial<ScriptedPolicyServerOptions> = {}): Promise<ScriptedPolicyServer> {
  const s = await startScriptedPolicyServer({ scripts: goldScriptBook(tasks), ...opts });
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function conversation(task: Task): ChatMessage[] {
  return [
    { role: 'system', content: systemPrompt({ maxTurns: 40 }) },
    { role: 'user', content: instancePrompt(task.problemStatement) },
  ];
}

function completionOf(outcome: PolicyOutcome): PolicyCompletion {
  if (outcome.kind !== 'completion') throw new Error(`expected a completion, got ${JSON.stringify(outcome)}`);
  return outcome.completion;
}

async function policyError(p: Promise<unknown>): Promise<PolicyError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyError);
    return err as PolicyError;
  }
  throw new Error('expected a PolicyError');
}

const task0 = tasks[0]!;

describe('policy client against the scripted server', () => {
  it('returns text, token ids and logprobs, with the decoding echo verified', async () => {
    const s = await start();
    const messages = conversation(task0);
    const c = completionOf(await complete({ url: s.url, model: 'm', messages, decoding, seed: 1, timeoutMs: 5_000, idempotencyKey: 'run/ep/0' }));
    expect(parseAction(c.text)).toMatchObject({ ok: true, action: { kind: 'open', path: 'backoff/policy.py', line: 1 } });
    expect(c.tokenIds).toEqual([...Buffer.from(c.text, 'utf8')]);
    expect(c.logprobs).toHaveLength(c.tokenIds.length);
    expect(c.logprobs.every((lp) => lp < 0)).toBe(true);
    expect(c.completionTokens).toBe(c.tokenIds.length);
    expect(c.promptTokens).toBe(Math.ceil((messages[0]!.content.length + messages[1]!.content.length) / 4));
    expect(c.finishReason).toBe('stop');
    expect(c.decodingEchoed).toBe(true);
    expect(c.decoding).toEqual(decoding);
    expect(c.latencyMs).toBeGreaterThanOrEqual(0);
    expect(s.stats()).toEqual({ requests: 1, byTask: { [task0.instanceId]: 1 }, failuresInjected: 0, calls: { 'run/ep/0': [''] } });
  });

  it('failFirstN=2: two retryable SWERL_POLICY_UNAVAILABLE, then the completion', async () => {
    const s = await start({ behaviour: { failFirstN: 2 } });
    const call = () => complete({ url: s.url, model: 'm', messages: conversation(task0), decoding, timeoutMs: 5_000 });
    for (let i = 0; i < 2; i++) {
      const err = await policyError(call());
      expect(err.code).toBe(ErrorCodes.POLICY_UNAVAILABLE);
      expect(err.retryable).toBe(true);
      expect(err.message).toContain('HTTP 503');
    }
    expect(completionOf(await call()).text).toContain('open backoff/policy.py');
    expect(s.stats()).toMatchObject({ requests: 3, failuresInjected: 2 });
  });

  it('a hung request times out as SWERL_POLICY_UNAVAILABLE, and the retry succeeds', async () => {
    const s = await start({ behaviour: { hangOnce: true } });
    const call = () => complete({ url: s.url, model: 'm', messages: conversation(task0), decoding, timeoutMs: 300 });
    const t0 = Date.now();
    const err = await policyError(call());
    const waited = Date.now() - t0;
    expect(err.code).toBe(ErrorCodes.POLICY_UNAVAILABLE);
    expect(err.message).toContain('no answer within 300 ms');
    expect(waited).toBeGreaterThanOrEqual(290);
    expect(waited).toBeLessThan(3_000);
    expect(completionOf(await call()).tokenIds.length).toBeGreaterThan(0);
  });

  it('a slow answer past the timeout, a dropped connection and a dead server are infra failures', async () => {
    const slow = await start({ behaviour: { delayMs: 1_000 } });
    const e1 = await policyError(complete({ url: slow.url, model: 'm', messages: conversation(task0), decoding, timeoutMs: 200 }));
    expect(e1.message).toContain('no answer within 200 ms');

    const reset = await start({ behaviour: { resetFirstN: 1 } });
    const e2 = await policyError(complete({ url: reset.url, model: 'm', messages: conversation(task0), decoding, timeoutMs: 5_000 }));
    expect(e2.code).toBe(ErrorCodes.POLICY_UNAVAILABLE);
    expect(e2.retryable).toBe(true);

    const dead = await startScriptedPolicyServer({ scripts: goldScriptBook(tasks) });
    await dead.close();
    const e3 = await policyError(complete({ url: dead.url, model: 'm', messages: conversation(task0), decoding, timeoutMs: 5_000 }));
    expect(e3.code).toBe(ErrorCodes.POLICY_UNAVAILABLE);
    expect(e3.message).toContain('ECONNREFUSED');
  });

  it('injects faults in order: the hung request, then resets, then 503s, then answers', async () => {
    const s = await start({ behaviour: { hangOnce: true, resetFirstN: 1, failFirstN: 1 } });
    const call = () => complete({ url: s.url, model: 'm', messages: conversation(task0), decoding, timeoutMs: 300 });
    expect((await policyError(call())).message).toContain('no answer within 300 ms');
    expect((await policyError(call())).code).toBe(ErrorCodes.POLICY_UNAVAILABLE);
    expect((await policyError(call())).message).toContain('HTTP 503: injected failure 1 of 1');
    expect(completionOf(await call()).text).toContain('open backoff/policy.py');
    expect(s.stats()).toMatchObject({ requests: 4, failuresInjected: 3, byTask: { [task0.instanceId]: 1 } });
  });

  it("the caller's own abort is passed through, not classified", async () => {
    const s = await start({ behaviour: { delayMs: 2_000 } });
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('activity cancelled')), 100);
    await expect(complete({ url: s.url, model: 'm', messages: conversation(task0), decoding, timeoutMs: 5_000, signal: ac.signal })).rejects.toThrow(
      /^activity cancelled$/,
    );
  });

  it('a conversation over the context limit is the model outcome context_overflow', async () => {
    const s = await start({ contextLimitTokens: 100 });
    const messages: ChatMessage[] = [{ role: 'user', content: `Task: ${task0.instanceId}\n${'x'.repeat(1_000)}` }];
    const outcome = await complete({ url: s.url, model: 'm', messages, decoding, timeoutMs: 5_000 });
    expect(outcome.kind).toBe('context_overflow');
    // ceil((1000 + "Task: toy__backoff-1\n".length = 21) / 4) = 256
    expect(outcome).toMatchObject({ promptTokens: 256 });
    expect(outcome.kind === 'context_overflow' && outcome.message).toContain("maximum context length is 100 tokens");
  });

  it('a server that samples with other decoding params than requested is refused (SWERL_DECODING_MISMATCH)', async () => {
    const s = await start({ behaviour: { mutateDecoding: { topK: 40 } } });
    const err = await policyError(complete({ url: s.url, model: 'm', messages: conversation(task0), decoding, timeoutMs: 5_000 }));
    expect(err.code).toBe(ErrorCodes.DECODING_MISMATCH);
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('top_k: requested -1, applied 40');
  });

  it('an unknown task is a final SWERL_POLICY_BAD_RESPONSE naming it', async () => {
    const s = await start();
    const err = await policyError(
      complete({ url: s.url, model: 'm', messages: [{ role: 'user', content: 'Task: nope-1' }], decoding, timeoutMs: 5_000 }),
    );
    expect(err.code).toBe(ErrorCodes.POLICY_BAD_RESPONSE);
    expect(err.message).toContain('HTTP 404): scripted policy has no script for task nope-1');
  });

  it('the same turn asked twice gets the same answer; the next turn another one', async () => {
    const book = createScriptBook([{ instanceId: task0.instanceId, problemStatement: task0.problemStatement, script: sequence(garbageScript(1), loopScript('pwd')) }]);
    const s = await start({ scripts: book });
    const messages = conversation(task0);
    const ask = (m: ChatMessage[]) => complete({ url: s.url, model: 'm', messages: m, decoding, timeoutMs: 5_000, idempotencyKey: 'ep-1/turn-0' });
    const a = completionOf(await ask(messages));
    const b = completionOf(await ask(messages));
    expect(b.text).toBe(a.text);
    expect(b.tokenIds).toEqual(a.tokenIds);
    expect(b.logprobs).toEqual(a.logprobs);
    expect(parseAction(a.text).ok).toBe(false);
    const next = completionOf(await ask([...messages, { role: 'assistant', content: a.text }, { role: 'user', content: 'format error' }]));
    expect(parseAction(next.text)).toMatchObject({ ok: true, action: { kind: 'shell', command: 'pwd' } });
    expect(s.stats().byTask).toEqual({ [task0.instanceId]: 3 });
  });
});

describe('hostile or broken policy answers end in a coded outcome, bounded', () => {
  it('an answer from another policy version is SWERL_POLICY_VERSION_MISMATCH after one call', async () => {
    const s = await start({ behaviour: { answerAs: 'ckpt-newest-of-another-run' } });
    const err = await policyError(complete({ url: s.url, model: 'ckpt-0001', messages: conversation(task0), decoding, timeoutMs: 5_000 }));
    expect(err.code).toBe(ErrorCodes.POLICY_VERSION_MISMATCH);
    expect(err.retryable).toBe(false);
    expect(s.stats().requests).toBe(1);
  });

  it(`a non-finite logprob is asked again; ${BAD_RESPONSE_ATTEMPTS} in a row are a final SWERL_POLICY_BAD_RESPONSE`, async () => {
    const once = await start({ behaviour: { nonFiniteLogprobFirstN: 1 } });
    const c = completionOf(await complete({ url: once.url, model: 'm', messages: conversation(task0), decoding, timeoutMs: 5_000 }));
    expect(c.logprobs.every((lp) => Number.isFinite(lp))).toBe(true);
    expect(once.stats()).toMatchObject({ requests: 2, failuresInjected: 1 });

    const always = await start({ behaviour: { nonFiniteLogprobFirstN: 1_000 } });
    const err = await policyError(complete({ url: always.url, model: 'm', messages: conversation(task0), decoding, timeoutMs: 5_000 }));
    expect(err.code).toBe(ErrorCodes.POLICY_BAD_RESPONSE);
    expect(err.message).toContain('-Infinity');
    expect(always.stats().requests).toBe(BAD_RESPONSE_ATTEMPTS);
  });

  it('a response body over the cap is not read into memory: asked again, then a final SWERL_POLICY_BAD_RESPONSE', async () => {
    const s = await start({ behaviour: { oversizeFirstN: { n: 1_000, bytes: 2 * 1024 * 1024 } } });
    const err = await policyError(complete({ url: s.url, model: 'm', messages: conversation(task0), decoding, timeoutMs: 30_000, maxResponseBytes: 1024 * 1024 }));
    expect(err.code).toBe(ErrorCodes.POLICY_BAD_RESPONSE);
    expect(err.message).toContain('larger than 1048576 bytes');
    expect(s.stats().requests).toBe(BAD_RESPONSE_ATTEMPTS);
  });
});

// Our trainer's server (trainer/swerl_trainer/server.py) is the endpoint of a local run: the client
// must read its real answers, not only the scripted server's imitation of them.
const trainerPython = [join(ROOT, 'trainer/.venv/bin/python')].find((p) => existsSync(p));
describe.skipIf(trainerPython === undefined)("policy client against the trainer's server", () => {
  let child: ChildProcess | undefined;
  let url = '';
  const checkpoints = mkdtempSync(join(tmpdir(), 'swerl-policy-ckpt-'));

  beforeAll(async () => {
    const proc = spawn(trainerPython!, ['-m', 'swerl_trainer.server', '--checkpoints', checkpoints, '--host', '127.0.0.1', '--port', '0'], {
      cwd: join(ROOT, 'trainer'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    url = await new Promise<string>((resolveUrl, reject) => {
      let out = '';
      proc.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /"url": "([^"]+)"/.exec(out);
        if (m) resolveUrl(m[1]!);
      });
      proc.once('exit', (code) => reject(new Error(`trainer server exited (${code}) before it was ready: ${stderr.slice(-2000)}`)));
    });
  }, 120_000);
  afterAll(() => {
    if (child?.pid !== undefined && child.exitCode === null) child.kill('SIGTERM');
    rmSync(checkpoints, { recursive: true, force: true });
  });

  it('reads its token ids, logprobs and decoding echo', async () => {
    const d = DecodingSchema.parse({ maxTokensPerTurn: 12, topK: 40 });
    const c = completionOf(
      await complete({ url, model: 'swerl-tiny-base', messages: [{ role: 'user', content: 'hello' }], decoding: d, seed: 3, timeoutMs: 60_000, idempotencyKey: 'k' }),
    );
    expect(c.tokenIds.length).toBe(c.logprobs.length);
    expect(c.completionTokens).toBe(c.tokenIds.length);
    expect(c.tokenIds.length).toBeGreaterThan(0);
    expect(c.tokenIds.length).toBeLessThanOrEqual(12);
    expect(c.logprobs.every((lp) => lp <= 0)).toBe(true);
    expect(c.decodingEchoed).toBe(true);
    expect(c.model).toBe('swerl-tiny-base');
    expect(['stop', 'length']).toContain(c.finishReason);
    // same seed, same prompt: the same sample
    const again = completionOf(
      await complete({ url, model: 'swerl-tiny-base', messages: [{ role: 'user', content: 'hello' }], decoding: d, seed: 3, timeoutMs: 60_000 }),
    );
    expect(again.tokenIds).toEqual(c.tokenIds);
  });

  it('asked by its alias, it answers with the checkpoint it sampled: another version than the episode\'s is SWERL_POLICY_VERSION_MISMATCH', async () => {
    const ask = (expectedVersion: string) =>
      complete({ url, model: 'swerl-policy', expectedVersion, messages: [{ role: 'user', content: 'hello' }], decoding, timeoutMs: 60_000 });
    expect(completionOf(await ask('swerl-tiny-base')).model).toBe('swerl-tiny-base');
    const err = await policyError(ask('ckpt-of-another-run'));
    expect(err.code).toBe(ErrorCodes.POLICY_VERSION_MISMATCH);
    expect(err.details).toMatchObject({ requested: 'swerl-policy', expected: 'ckpt-of-another-run', answered: 'swerl-tiny-base' });
  });

  it('reports a prompt beyond its context as context_overflow', async () => {
    const outcome = await complete({ url, model: 'swerl-tiny-base', messages: [{ role: 'user', content: 'x'.repeat(20_000) }], decoding, timeoutMs: 60_000 });
    expect(outcome).toMatchObject({ kind: 'context_overflow' });
    expect(outcome.kind === 'context_overflow' && outcome.promptTokens).toBeGreaterThan(20_000);
  });
});

describe('gold scripts through the real sandbox tools', () => {
  const work = mkdtempSync(join(tmpdir(), 'swerl-policy-gold-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const localBin = join(ROOT, 'sandbox/tools/bin');
  // The system python3 (the sandbox image's too) starts in ~0.1 s; a pyenv shim first in PATH takes ~1 s per tool call.
  const hostPath = existsSync('/usr/bin/python3') ? `/usr/bin:${process.env.PATH ?? ''}` : (process.env.PATH ?? '');

  function unpack(task: Task, name: string): string {
    const dir = join(work, `${task.instanceId}-${name}`);
    execFileSync('mkdir', ['-p', dir]);
    execFileSync('tar', ['xzf', join(ROOT, 'tasks/toy', task.repoPath!), '-C', dir]);
    return dir;
  }

  /** Plays turns as an episode does, until submit; returns the submitted patch and the number of turns. */
  async function playEpisode(url: string, messages: ChatMessage[], repo: string, label: string): Promise<{ submission: string; turns: number }> {
    const env = { ...process.env, PATH: hostPath, SWERL_REPO: repo, SWERL_STATE_FILE: `${repo}.state.json` };
    for (let turn = 0; turn < 20; turn++) {
      const c = completionOf(await complete({ url, model: 'm', messages, decoding, timeoutMs: 5_000 }));
      const parsed = parseAction(c.text);
      const command = parsed.ok ? renderActionCommand(parsed.action) : renderFormatErrorCommand(parsed.error);
      const observation = execFileSync('bash', ['-c', command.replaceAll(TOOLS_BIN, localBin)], { cwd: repo, env, encoding: 'utf8' });
      expect(observation, `${label} turn ${turn}: ${c.text}`).not.toMatch(/^Error|NOT been applied/m);
      messages.push({ role: 'assistant', content: c.text }, { role: 'user', content: observation });
      if (parsed.ok && parsed.action.kind === 'submit') {
        const submission = extractSubmission(observation);
        expect(submission, label).toBeTruthy();
        return { submission: submission!, turns: turn + 1 };
      }
    }
    throw new Error(`${label}: no submit within 20 turns`);
  }

  it(`every toy task's gold script, played over HTTP, submits a patch equal in effect to the gold patch (${tasks.length} tasks)`, async () => {
    const s = await start();
    let turns = 0;
    for (const task of tasks) {
      const repo = unpack(task, 'agent');
      const played = await playEpisode(s.url, conversation(task), repo, task.instanceId);
      turns += played.turns;
      const gold = unpack(task, 'gold');
      writeFileSync(join(work, 'gold.patch'), task.goldPatch);
      execFileSync('git', ['-C', gold, 'apply', join(work, 'gold.patch')]);
      for (const file of parsePatch(task.goldPatch).files) {
        expect(readFileSync(join(repo, file.path), 'utf8'), `${task.instanceId}: ${file.path}`).toBe(readFileSync(join(gold, file.path), 'utf8'));
        expect(played.submission).toContain(`+++ b/${file.path}`);
      }
    }
    expect(s.stats().requests).toBe(turns);
    expect(Object.keys(s.stats().byTask).sort()).toEqual(tasks.map((t) => t.instanceId).sort());
  });

  // The toy gold patches change each file in one hunk; this patch has two hunks in one file, the upper
  // one adding lines, so replaying top-down would edit the wrong lines of the lower one.
  it('a patch with two hunks in one file replays bottom-up', async () => {
    const task = tasks.find((t) => t.instanceId === 'toy__csvlite-1')!;
    const path = parsePatch(task.goldPatch).files[0]!.path;
    const target = unpack(task, 'two-hunks-target');
    const lines = readFileSync(join(target, path), 'utf8').split('\n');
    expect(lines.length).toBeGreaterThan(12);
    lines.splice(1, 0, '# swerl: first inserted line', '# swerl: second inserted line');
    writeFileSync(join(target, path), `${lines.join('\n')}# swerl: trailing comment\n`);
    const patch = execFileSync('git', ['-C', target, 'diff'], { encoding: 'utf8' });
    expect(parsePatch(patch).files).toHaveLength(1);
    expect(patch.match(/^@@ /gm)).toHaveLength(2);

    const book = createScriptBook([{ instanceId: 'two-hunks', script: scriptFromActions('two-hunks', goldActions(patch)) }]);
    const s = await start({ scripts: book });
    const repo = unpack(task, 'two-hunks-agent');
    await playEpisode(s.url, [{ role: 'user', content: 'Task: two-hunks' }], repo, 'two-hunks');
    expect(readFileSync(join(repo, path), 'utf8')).toBe(readFileSync(join(target, path), 'utf8'));
  });
});
