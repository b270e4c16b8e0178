/**
 * Fault: the policy server (the trainer's real OpenAI-compatible server, its own process) is
 * SIGKILLed while a group of episodes samples from it, and restarted with ANOTHER default version
 * (as a server restarted after the trainer moved on would be). The episodes pin their policy
 * version (policy.pinVersion: the request's model is the checkpoint id), so the restarted server
 * must answer them with that version, not its default.
 *
 * What is counted, by a proxy between the rollout host and the server that survives the kill: per
 * (episode, turn) request key, every answer the server delivered. Each persisted turn must be the
 * one answer delivered for its key (no turn sampled twice, none sampled and dropped), every answer
 * names the pinned version, and at least one request was cut by the kill.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { and, asc, eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScriptBook, garbageScript } from '../../activities/policy/scripts';
import { episodes, turns } from '../../db/schema';
import { rolloutHarness, type RolloutHarness } from '../harness/rollout';

const ROOT = path.join(__dirname, '..', '..');
const PYTHON = path.join(ROOT, 'trainer', '.venv', 'bin', 'python');
const PINNED = 'swerl-tiny-base';
const OTHER = 'other-base';
const EPISODES = 2;
const MAX_TURNS = 3;

interface Delivered {
  model: string;
  content: string;
}

/** A reverse proxy that counts, per x-request-id, the requests it forwarded and the answers it delivered. */
class CountingProxy {
  upstream = '';
  readonly requests = new Map<string, number>();
  readonly delivered = new Map<string, Delivered[]>();
  /** Requests whose upstream failed (connection refused or reset: the server was killed). */
  cut = 0;
  inFlight = 0;
  private server = http.createServer((req, res) => this.forward(req, res));

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    const key = String(req.headers['x-request-id'] ?? '');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => res.destroy());
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (key) this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
      this.inFlight += 1;
      const fail = () => {
        this.inFlight -= 1;
        this.cut += 1;
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'policy server unreachable', type: 'bad_gateway' } }));
      };
      if (!this.upstream) return fail();
      const up = http.request(`${this.upstream}${req.url}`, { method: req.method, headers: req.headers }, (ans) => {
        const out: Buffer[] = [];
        ans.on('data', (c: Buffer) => out.push(c));
        ans.on('error', fail);
        ans.on('end', () => {
          this.inFlight -= 1;
          const text = Buffer.concat(out);
          if (ans.statusCode === 200 && key) {
            const json = JSON.parse(text.toString()) as { model: string; choices: Array<{ message: { content: string } }> };
            (this.delivered.get(key) ?? this.delivered.set(key, []).get(key)!).push({ model: json.model, content: json.choices[0]!.message.content });
          }
          res.writeHead(ans.statusCode ?? 502, { 'content-type': ans.headers['content-type'] ?? 'application/json' });
          res.end(text);
        });
      });
      up.on('error', fail);
      up.end(body);
    });
  }
}

let h: RolloutHarness;
let proxy: CountingProxy;
let proxyUrl = '';
let server: ChildProcess | undefined;
const checkpoints = mkdtempSync(path.join(os.tmpdir(), 'swerl-policykill-'));

/** Starts the trainer's policy server (its own process group) with `base` as its default version. */
async function startServer(base: string): Promise<string> {
  const args = ['-m', 'swerl_trainer.server', '--checkpoints', checkpoints, '--init-base', base, '--checkpoint', base, '--max-seq-len', '8192', '--threads', '1', '--port', '0'];
  const proc = spawn(PYTHON, args, { cwd: path.join(ROOT, 'trainer'), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  server = proc;
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  return new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`policy server not ready in 180 s: ${stderr}`)), 180_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"url": "([^"]+)"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`policy server exited (${code ?? signal}) before it was ready: ${stderr}`));
    });
  });
}

async function killServer(): Promise<void> {
  const proc = server;
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  process.kill(-proc.pid!, 'SIGKILL');
  await exited;
}

beforeAll(async () => {
  // The harness's scripted server is not used: every episode here samples from the trainer's server.
  h = await rolloutHarness('policykill', (tasks) => createScriptBook(tasks.map((t) => ({ instanceId: t.instanceId, problemStatement: t.problemStatement, script: garbageScript(1) }))));
  proxy = new CountingProxy();
  proxyUrl = await proxy.listen();
  proxy.upstream = await startServer(PINNED);
  await h.startWorker();
  await h.startRollout();
}, 300_000);

afterAll(async () => {
  await killServer();
  await proxy?.close();
  await h?.close();
  rmSync(checkpoints, { recursive: true, force: true });
});

async function waitFor(what: string, pred: () => boolean | Promise<boolean>, timeoutMs = 240_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('policy server SIGKILLed and restarted on another version mid-group', () => {
  it('the episodes finish on their pinned version with no turn sampled twice', async () => {
    const inputs = Array.from({ length: EPISODES }, (_, i) => {
      const input = h.episodeInput(h.tasks[i]!.instanceId, { sampleIdx: 0, maxTurns: MAX_TURNS });
      input.policy = { ...input.policy, url: proxyUrl, model: PINNED, policyVersion: PINNED, seed: 100 * i, decoding: { ...input.policy.decoding, maxTokensPerTurn: 16 } };
      // Fewer turns than the preset's free turns: no length penalty (it needs maxTurns > freeTurns).
      input.limits = { ...input.limits, lengthPenalty: false };
      return input;
    });
    const handles = await Promise.all(inputs.map((input) => h.startEpisode(input)));

    // Mid-group: some turns answered, a request in flight.
    await waitFor('an answered turn and a request in flight', () => proxy.delivered.size >= 1 && proxy.inFlight >= 1);
    await killServer();
    const cutByKill = proxy.cut;
    proxy.upstream = await startServer(OTHER);

    const results = await Promise.all(handles.map((handle) => handle.result()));
    expect(cutByKill, 'the kill cut a request in flight').toBeGreaterThanOrEqual(1);
    for (const r of results) expect(r).toMatchObject({ exitReason: 'max_turns', turns: MAX_TURNS });

    // The restarted server's default is another version: the pin is what kept the episodes on theirs.
    const alias = await fetch(`${proxy.upstream}/v1/models`).then((r) => r.json() as Promise<{ data: Array<{ id: string }> }>);
    expect(JSON.stringify(alias)).toContain(OTHER);

    const ids = inputs.map((i) => i.episodeId);
    const rows = await h.db.db.select().from(turns).where(and(inArray(turns.episodeId, ids), eq(turns.role, 'assistant'))).orderBy(asc(turns.episodeId), asc(turns.idx));
    expect(rows).toHaveLength(EPISODES * MAX_TURNS);
    const keys = rows.map((r) => `${r.episodeId}:${(r.idx - 2) / 2}`);
    // Every answer the server delivered was for a persisted turn, once, and is what was persisted.
    expect([...proxy.delivered.keys()].sort()).toEqual([...keys].sort());
    rows.forEach((r, i) => {
      const answers = proxy.delivered.get(keys[i]!)!;
      expect(answers, `turn ${keys[i]} answered more than once`).toHaveLength(1);
      expect(answers[0]).toEqual({ model: PINNED, content: r.text });
    });
    // The cut requests were retried: counted as infra failures on their episodes, never scored.
    const rowsOfEpisodes = await h.db.db.select().from(episodes).where(inArray(episodes.id, ids));
    expect(rowsOfEpisodes.reduce((n, e) => n + e.infraFailures, 0)).toBeGreaterThanOrEqual(1);
    expect(rowsOfEpisodes.every((e) => e.policyVersion === PINNED && e.status === 'completed')).toBe(true);
    console.log(`[policyServerKill] requests ${[...proxy.requests.values()].reduce((a, b) => a + b, 0)}, answers ${proxy.delivered.size}, cut ${proxy.cut}`);
  });
});
