/**
 * A real HTTP server (node:http) speaking the policy API of trainer/swerl_trainer/server.py, but
 * replaying scripts instead of sampling: for tests and benchmarks that need a policy with known
 * behaviour (the gold patch through the tools, format errors, loops, context fillers) and injected
 * faults (5xx, delays, a hung request, dropped connections, a lying decoding echo).
 *
 * The reply is a pure function of (task, turn): the task comes from the conversation (see
 * scripts.identifyTask), the turn is the number of assistant messages already in it. A retried
 * request therefore gets the same text, token ids and logprobs.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Decoding } from '../../core/config';
import { identifyTask, type ScriptBook } from './scripts';

/**
 * Injected faults. Chat requests are numbered from 1 over the server's life, whatever the task:
 * request 1 hangs if hangOnce; then the first resetFirstN are reset; the failFirstN after those get 503.
 */
export interface ScriptedPolicyBehaviour {
  /** N chat requests (after the resets) get HTTP 503. */
  failFirstN?: number;
  /** The first N chat requests get their connection destroyed before any answer. */
  resetFirstN?: number;
  /** Every answer waits this long first. */
  delayMs?: number;
  /** The very first chat request never gets an answer (until close()). */
  hangOnce?: boolean;
  /** Echo these decoding params instead of the requested ones (a sampler that silently changed). */
  mutateDecoding?: Partial<Decoding>;
  /** Answer as this model whatever the request named (a server serving another policy version). */
  answerAs?: string;
  /** The first N answers carry a logprob of -1e999 (JSON for -Infinity; a numerically broken sampler). */
  nonFiniteLogprobFirstN?: number;
  /** The first N answers are padded to this many bytes (a runaway or hostile server). */
  oversizeFirstN?: { n: number; bytes: number };
  /**
   * Sample per call, not per turn: every `{{nonce}}` in a reply becomes a value drawn from `seed`
   * and the call's number over the server's life, so a re-sampled turn reads differently from the
   * one it replaced (fault tests compare the persisted text with what each call was given).
   */
  samplePerCall?: { seed: number };
}

export interface ScriptedPolicyServerOptions {
  port?: number;
  host?: string;
  scripts: ScriptBook;
  behaviour?: ScriptedPolicyBehaviour;
  /** Conversations whose characters / 4 exceed this are refused with context_length_exceeded. */
  contextLimitTokens?: number;
  /** Reported as `model` in every answer. */
  modelName?: string;
}

export interface ScriptedPolicyStats {
  requests: number;
  byTask: Record<string, number>;
  failuresInjected: number;
  /**
   * Every answered chat call by request id (the client's x-request-id, `<episode>:<turn>` for an
   * episode's policy turn), in order: the nonce each call was given ('' without samplePerCall).
   */
  calls: Record<string, string[]>;
}

/** The value of `{{nonce}}` in call number `call` (1-based) of a server sampling with `seed`. */
export function callNonce(seed: number, call: number): string {
  return `n${createHash('sha256').update(`${seed}:${call}`).digest('hex').slice(0, 10)}`;
}

/** Matches what callNonce produces, for tests that compare texts across calls. */
export const NONCE_PATTERN = /n[0-9a-f]{10}/g;

export interface ScriptedPolicyServer {
  url: string;
  close(): Promise<void>;
  stats(): ScriptedPolicyStats;
}

/** The header that names the task when the prompt does not (documented in scripts.identifyTask). */
export const TASK_HEADER = 'x-swerl-task';

const DEFAULT_CONTEXT_LIMIT = 65_536;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null = null,
    readonly type = 'invalid_request_error',
  ) {
    super(message);
  }
}

/** Token ids are the UTF-8 bytes of the text: plausible, reversible, and stable across runs. */
export function scriptedTokens(text: string, maxTokens: number): { ids: number[]; text: string; finish: 'stop' | 'length' } {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxTokens) return { ids: [...bytes], text, finish: 'stop' };
  const cut = bytes.subarray(0, maxTokens);
  return { ids: [...cut], text: cut.toString('utf8'), finish: 'length' };
}

/** Deterministic, strictly negative logprobs in [-1.0, -0.01]. */
export function scriptedLogprobs(ids: readonly number[], turn: number): number[] {
  return ids.map((id, i) => -(((id * 31 + i * 7 + turn * 13) % 100) + 1) / 100);
}

interface ChatBody {
  model?: unknown;
  messages?: unknown;
  temperature?: unknown;
  top_p?: unknown;
  top_k?: unknown;
  min_p?: unknown;
  repetition_penalty?: unknown;
  max_tokens?: unknown;
  seed?: unknown;
  stop?: unknown;
}

function numberOr(v: unknown, dflt: number): number {
  return typeof v === 'number' ? v : dflt;
}

function messagesOf(body: ChatBody): Array<{ role: string; content: string }> {
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    throw new HttpError(400, 'messages must be a non-empty list', null);
  }
  return body.messages.map((m: unknown, i) => {
    const rec = m as { role?: unknown; content?: unknown } | null;
    if (!rec || typeof rec.role !== 'string' || typeof rec.content !== 'string') {
      throw new HttpError(400, `messages[${i}] must have a string role and content`, null);
    }
    return { role: rec.role, content: rec.content };
  });
}

export async function startScriptedPolicyServer(opts: ScriptedPolicyServerOptions): Promise<ScriptedPolicyServer> {
  const behaviour = opts.behaviour ?? {};
  const contextLimit = opts.contextLimitTokens ?? DEFAULT_CONTEXT_LIMIT;
  const modelName = opts.modelName ?? 'swerl-scripted';
  const stats: ScriptedPolicyStats = { requests: 0, byTask: {}, failuresInjected: 0, calls: {} };
  const sockets = new Set<Socket>();
  let chatRequests = 0;
  let responseSeq = 0;
  /** 200 answers sent (the nonFinite/oversize faults count these). */
  let answers = 0;

  function answer(body: ChatBody, taskHeader: string | undefined, nonce: string): Record<string, unknown> {
    const messages = messagesOf(body);
    const firstUser = messages.find((m) => m.role === 'user')?.content ?? '';
    const task = identifyTask(opts.scripts, firstUser, taskHeader);
    const script = (task !== undefined ? opts.scripts.scripts.get(task) : undefined) ?? opts.scripts.fallback;
    if (!script) {
      throw new HttpError(404, `scripted policy has no script for task ${task ?? '(not identified: no X-Swerl-Task header, Task: line or known issue text)'}`, 'unknown_task', 'not_found_error');
    }
    const key = task ?? '(fallback)';
    stats.byTask[key] = (stats.byTask[key] ?? 0) + 1;

    const chars = messages.reduce((n, m) => n + m.content.length, 0);
    const promptTokens = Math.ceil(chars / 4);
    if (promptTokens > contextLimit) {
      throw new HttpError(
        400,
        `This model's maximum context length is ${contextLimit} tokens. However, your messages resulted in ${promptTokens} tokens ` +
          `(${promptTokens} in the messages, 0 in the completion). Please reduce the length of the messages.`,
        'context_length_exceeded',
      );
    }
    const turn = messages.filter((m) => m.role === 'assistant').length;
    const maxTokens = typeof body.max_tokens === 'number' && body.max_tokens > 0 ? body.max_tokens : 4096;
    const reply = nonce === '' ? script.reply(turn) : script.reply(turn).replaceAll('{{nonce}}', nonce);
    const out = scriptedTokens(reply, maxTokens);
    const logprobs = scriptedLogprobs(out.ids, turn);
    const m = behaviour.mutateDecoding ?? {};
    const decodingEcho = {
      temperature: m.temperature ?? numberOr(body.temperature, 1.0),
      top_p: m.topP ?? numberOr(body.top_p, 1.0),
      top_k: m.topK ?? numberOr(body.top_k, -1),
      min_p: m.minP ?? numberOr(body.min_p, 0),
      repetition_penalty: m.repetitionPenalty ?? numberOr(body.repetition_penalty, 1.0),
      max_tokens: m.maxTokensPerTurn ?? (typeof body.max_tokens === 'number' ? body.max_tokens : null),
      seed: typeof body.seed === 'number' ? body.seed : null,
      max_tokens_effective: maxTokens,
      stop: Array.isArray(body.stop) ? body.stop : typeof body.stop === 'string' ? [body.stop] : [],
    };
    return {
      id: `chatcmpl-scripted-${++responseSeq}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: behaviour.answerAs ?? (typeof body.model === 'string' && body.model !== '' ? body.model : modelName),
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: out.text },
          finish_reason: out.finish,
          logprobs: {
            content: out.ids.map((id, i) => ({ token: String.fromCharCode(id), logprob: logprobs[i]!, bytes: [id], top_logprobs: [] })),
          },
          token_ids: out.ids,
        },
      ],
      usage: { prompt_tokens: promptTokens, completion_tokens: out.ids.length, total_tokens: promptTokens + out.ids.length },
      swerl_decoding: decodingEcho,
      swerl_script: { task: key, script: script.name, turn },
    };
  }

  function send(res: ServerResponse, status: number, body: unknown): void {
    const data = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
    res.end(data);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.method === 'GET' && req.url === '/health') return send(res, 200, { status: 'ok' });
    if (req.method === 'GET' && req.url === '/v1/models') {
      return send(res, 200, { object: 'list', data: [{ id: modelName, object: 'model', owned_by: 'swerl' }] });
    }
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      throw new HttpError(404, `no route ${req.method} ${req.url}`, null, 'not_found_error');
    }
    const n = ++chatRequests;
    stats.requests++;
    if (behaviour.hangOnce && n === 1) {
      stats.failuresInjected++;
      return; // never answered; close() destroys the socket
    }
    const k = n - (behaviour.hangOnce ? 1 : 0); // position among the requests after the hung one
    const resets = behaviour.resetFirstN ?? 0;
    if (k <= resets) {
      stats.failuresInjected++;
      req.socket.destroy();
      return;
    }
    if (behaviour.delayMs) await new Promise((r) => setTimeout(r, behaviour.delayMs));
    if (k - resets <= (behaviour.failFirstN ?? 0)) {
      stats.failuresInjected++;
      throw new HttpError(503, `injected failure ${k - resets} of ${behaviour.failFirstN}`, null, 'server_error');
    }
    let body: ChatBody;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ChatBody;
    } catch (err) {
      throw new HttpError(400, `request body is not JSON: ${(err as Error).message}`);
    }
    if (typeof body !== 'object' || body === null) throw new HttpError(400, 'request body must be a JSON object');
    const header = req.headers[TASK_HEADER];
    const nonce = behaviour.samplePerCall ? callNonce(behaviour.samplePerCall.seed, n) : '';
    const reply = answer(body, Array.isArray(header) ? header[0] : header, nonce);
    const requestId = String(req.headers['x-request-id'] ?? '(none)');
    (stats.calls[requestId] ??= []).push(nonce);
    answers++;
    let data = JSON.stringify(reply);
    if (answers <= (behaviour.nonFiniteLogprobFirstN ?? 0)) {
      stats.failuresInjected++;
      data = data.replace(/"logprob":-?[\d.e-]+/, '"logprob":-1e999');
    }
    const big = behaviour.oversizeFirstN;
    if (big && answers <= big.n) {
      stats.failuresInjected++;
      data = `${data.slice(0, -1)},"swerl_padding":"${'x'.repeat(Math.max(0, big.bytes - data.length))}"}`;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
    res.end(data);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent || res.destroyed) return;
      const e = err instanceof HttpError ? err : new HttpError(500, `scripted policy crashed: ${String(err)}`, null, 'server_error');
      send(res, e.status, { error: { message: e.message, type: e.type, param: null, code: e.code } });
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${addr.port}`,
    stats: () => ({ ...stats, byTask: { ...stats.byTask }, calls: Object.fromEntries(Object.entries(stats.calls).map(([k, v]) => [k, [...v]])) }),
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const s of sockets) s.destroy();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
