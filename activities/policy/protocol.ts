/**
 * The OpenAI-compatible chat/completions wire format as swerl speaks it, kept free of I/O so every
 * classification rule is unit-tested on hand-written bodies: what we send (decoding params, logprob
 * and token-id switches), how a response becomes a completion, and which failures are infra
 * (retried, never scored), model outcomes (context overflow: scored like any episode end) or final.
 *
 * Servers we read: vLLM (`choices[0].logprobs.content[i].token` = "token_id:123" with
 * `return_tokens_as_token_ids`, or `choices[0].token_ids` with `return_token_ids`), SGLang,
 * llama.cpp server, and our trainer's server (trainer/swerl_trainer/server.py: `token_ids` per
 * choice plus a `swerl_decoding` echo of the sampling params it applied).
 */
import type { Decoding } from '../../core/config';
import { ErrorCodes, PolicyError } from '../../core/errors';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface PolicyCompletion {
  text: string;
  tokenIds: number[];
  logprobs: number[];
  promptTokens: number;
  completionTokens: number;
  finishReason: 'stop' | 'length' | string;
  /** What was requested; checked against the server's echo when it sends one (decodingEchoed). */
  decoding: Decoding;
  decodingEchoed: boolean;
  model: string;
  latencyMs: number;
}

export type PolicyOutcome =
  | { kind: 'completion'; completion: PolicyCompletion }
  | { kind: 'context_overflow'; promptTokens?: number; message: string };

export interface CompletionRequest {
  /** The model name sent: the served alias, or the policy version itself (policy.pinVersion). */
  model: string;
  /**
   * The policy version the answer must come from. An answer naming the model asked for (an alias
   * echo, as vLLM gives) or this version is accepted; any other name (our server answers with the
   * checkpoint id it sampled from) is SWERL_POLICY_VERSION_MISMATCH.
   */
  expectedVersion?: string;
  messages: ChatMessage[];
  decoding: Decoding;
  seed?: number;
}

/** The JSON body of POST /v1/chat/completions. Every sampling knob is sent explicitly, disabled ones too. */
export function buildRequestBody(req: CompletionRequest): Record<string, unknown> {
  const d = req.decoding;
  return {
    model: req.model,
    messages: req.messages.map((m) => ({ role: m.role, content: m.content })),
    n: 1,
    stream: false,
    temperature: d.temperature,
    top_p: d.topP,
    top_k: d.topK,
    min_p: d.minP,
    repetition_penalty: d.repetitionPenalty,
    max_tokens: d.maxTokensPerTurn,
    ...(req.seed !== undefined ? { seed: req.seed } : {}),
    logprobs: true,
    // vLLM: without these the sampled ids are lost (tokens come back as strings).
    return_tokens_as_token_ids: true,
    return_token_ids: true,
  };
}

// ---------------------------------------------------------------------------------------------
// Decoding echo
// ---------------------------------------------------------------------------------------------

/**
 * Effective sampling behaviour: servers spell "disabled" differently (top_k -1 or 0, top_p 1,
 * min_p 0), and only a difference in behaviour corrupts importance ratios.
 */
function effective(name: 'temperature' | 'top_p' | 'top_k' | 'min_p' | 'repetition_penalty', v: number): number {
  switch (name) {
    case 'top_k':
      return v <= 0 ? -1 : v;
    case 'top_p':
      return v >= 1 ? 1 : v;
    case 'min_p':
      return v <= 0 ? 0 : v;
    default:
      return v;
  }
}

export interface DecodingDifference {
  field: string;
  requested: unknown;
  applied: unknown;
}

/**
 * Compares the server's `swerl_decoding` echo with the request. A field the echo omits is not
 * compared (the server did not say); a field it names with another effective value is a mismatch.
 */
export function decodingDifferences(requested: Decoding, seed: number | undefined, echo: Record<string, unknown>): DecodingDifference[] {
  const pairs: Array<['temperature' | 'top_p' | 'top_k' | 'min_p' | 'repetition_penalty', number]> = [
    ['temperature', requested.temperature],
    ['top_p', requested.topP],
    ['top_k', requested.topK],
    ['min_p', requested.minP],
    ['repetition_penalty', requested.repetitionPenalty],
  ];
  const out: DecodingDifference[] = [];
  for (const [field, want] of pairs) {
    const got = echo[field];
    if (got === undefined || got === null) continue;
    if (typeof got !== 'number' || Math.abs(effective(field, got) - effective(field, want)) > 1e-9) {
      out.push({ field, requested: want, applied: got });
    }
  }
  // max_tokens_effective may be lower (the context had less room); max_tokens must be what we sent.
  const maxTokens = echo.max_tokens;
  if (maxTokens !== undefined && maxTokens !== null && maxTokens !== requested.maxTokensPerTurn) {
    out.push({ field: 'max_tokens', requested: requested.maxTokensPerTurn, applied: maxTokens });
  }
  if (seed !== undefined && echo.seed !== undefined && echo.seed !== null && echo.seed !== seed) {
    out.push({ field: 'seed', requested: seed, applied: echo.seed });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

export interface ParseContext {
  url: string;
  request: CompletionRequest;
  latencyMs: number;
}

const OVERFLOW_PATTERNS: readonly RegExp[] = [
  /maximum context length/i, // OpenAI, vLLM: "This model's maximum context length is N tokens"
  /context length exceeded/i,
  /longer than the model's context length/i, // SGLang
  /exceeds the available context size/i, // llama.cpp server
  /prompt is too long/i,
  /too many (input )?tokens/i,
];

function errorInfo(body: unknown): { message: string; code?: string; type?: string; nPromptTokens?: number } {
  if (typeof body !== 'object' || body === null) return { message: typeof body === 'string' ? body : '' };
  const rec = body as Record<string, unknown>;
  // OpenAI/vLLM/ours nest under `error`; older vLLM puts message/type/code at the top level.
  const err = typeof rec.error === 'object' && rec.error !== null ? (rec.error as Record<string, unknown>) : rec;
  const message = typeof err.message === 'string' ? err.message : typeof rec.error === 'string' ? rec.error : '';
  return {
    message,
    code: typeof err.code === 'string' ? err.code : undefined,
    type: typeof err.type === 'string' ? err.type : undefined,
    nPromptTokens: typeof err.n_prompt_tokens === 'number' ? err.n_prompt_tokens : undefined,
  };
}

export function isContextOverflow(status: number, body: unknown): boolean {
  if (status !== 400 && status !== 413) return false;
  const info = errorInfo(body);
  if (info.code === 'context_length_exceeded' || info.type === 'exceed_context_size_error') return true;
  return OVERFLOW_PATTERNS.some((re) => re.test(info.message));
}

/** The prompt size a context-overflow message states, if it states one. */
export function overflowPromptTokens(body: unknown): number | undefined {
  const info = errorInfo(body);
  if (info.nPromptTokens !== undefined) return info.nPromptTokens;
  const m = /\((\d+) in the messages/.exec(info.message) ?? /The input \((\d+) tokens\)/.exec(info.message);
  return m ? Number(m[1]) : undefined;
}

function clip(s: string, n = 500): string {
  return s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s;
}

/**
 * Turns an HTTP status and raw body into the outcome, or throws the classified PolicyError:
 * 5xx/429/408 and unreadable 200 bodies are infra (retryable), a context overflow is a model
 * outcome, any other 4xx or a 200 missing what training needs is final.
 */
export function interpretResponse(status: number, bodyText: string, ctx: ParseContext): PolicyOutcome {
  const where = { url: ctx.url, model: ctx.request.model, status };
  let body: unknown;
  let jsonError: string | undefined;
  try {
    body = JSON.parse(bodyText);
  } catch (err) {
    jsonError = (err as Error).message;
  }
  if (status >= 500 || status === 429 || status === 408) {
    const msg = jsonError === undefined ? errorInfo(body).message : clip(bodyText);
    throw new PolicyError(ErrorCodes.POLICY_UNAVAILABLE, `policy server ${ctx.url} answered HTTP ${status}: ${msg}`, where);
  }
  if (status < 200 || status >= 300) {
    if (isContextOverflow(status, body ?? bodyText)) {
      const info = errorInfo(body ?? bodyText);
      return { kind: 'context_overflow', promptTokens: overflowPromptTokens(body), message: info.message || clip(bodyText) };
    }
    const msg = jsonError === undefined ? errorInfo(body).message || clip(bodyText) : clip(bodyText);
    throw new PolicyError(ErrorCodes.POLICY_BAD_RESPONSE, `policy server ${ctx.url} refused the request (HTTP ${status}): ${msg}`, where);
  }
  if (jsonError !== undefined) {
    // A truncated or garbled 200 is what a proxy or a dying server produces: retry it.
    throw new PolicyError(
      ErrorCodes.POLICY_UNAVAILABLE,
      `policy server ${ctx.url} sent a 200 whose body is not JSON (${jsonError}): ${clip(bodyText, 200)}`,
      where,
    );
  }
  return { kind: 'completion', completion: parseCompletion(body, ctx) };
}

/**
 * `resample`: the answer was malformed in a way a healthy server produces now and then (a
 * non-finite logprob, an oversized body), so the client asks again a bounded number of times
 * (client.ts BAD_RESPONSE_ATTEMPTS) before the error is final. Nothing was persisted for the turn.
 */
function bad(ctx: ParseContext, field: string, why: string, opts: { resample?: boolean } = {}): PolicyError {
  return new PolicyError(
    ErrorCodes.POLICY_BAD_RESPONSE,
    `policy server ${ctx.url} (model ${ctx.request.model}) sent a completion without usable ${field}: ${why}`,
    { url: ctx.url, model: ctx.request.model, field, resample: opts.resample === true },
  );
}

/** A bad response worth asking again for (see `bad`). */
export function isResampleable(err: unknown): boolean {
  return err instanceof PolicyError && err.code === ErrorCodes.POLICY_BAD_RESPONSE && err.details.resample === true;
}

const TOKEN_ID_RE = /^token_id:(-?\d+)$/;

/** Parses a 200 body; throws SWERL_POLICY_BAD_RESPONSE naming the missing field, SWERL_DECODING_MISMATCH on a bad echo. */
export function parseCompletion(body: unknown, ctx: ParseContext): PolicyCompletion {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad(ctx, 'body', 'not a JSON object');
  const rec = body as Record<string, unknown>;
  // An answer from another policy version would put off-policy tokens into training (a restarted
  // server that loaded another checkpoint): the answer must name what was asked for, or the version.
  if (rec.model !== ctx.request.model && (ctx.request.expectedVersion === undefined || rec.model !== ctx.request.expectedVersion)) {
    const expected = ctx.request.expectedVersion ?? ctx.request.model;
    throw new PolicyError(
      ErrorCodes.POLICY_VERSION_MISMATCH,
      `policy server ${ctx.url} answered as model ${JSON.stringify(rec.model)}, but the request named ${JSON.stringify(ctx.request.model)} for policy version ${JSON.stringify(expected)}`,
      { url: ctx.url, requested: ctx.request.model, expected, answered: rec.model ?? null },
    );
  }
  const choices = rec.choices;
  if (!Array.isArray(choices) || choices.length === 0) throw bad(ctx, 'choices', 'missing or empty');
  const choice = choices[0] as Record<string, unknown> | null;
  if (typeof choice !== 'object' || choice === null) throw bad(ctx, 'choices[0]', 'not an object');
  const message = choice.message as Record<string, unknown> | undefined;
  const text = message?.content;
  if (typeof text !== 'string') throw bad(ctx, 'choices[0].message.content', 'not a string');

  const lpContent = (choice.logprobs as Record<string, unknown> | null | undefined)?.content;
  if (!Array.isArray(lpContent)) {
    throw bad(ctx, 'choices[0].logprobs.content', 'missing (the server must support `logprobs: true`)');
  }
  const logprobs: number[] = [];
  const tokenStrings: unknown[] = [];
  for (const [i, entry] of lpContent.entries()) {
    const lp = (entry as Record<string, unknown> | null)?.logprob;
    if (typeof lp !== 'number' || !Number.isFinite(lp) || lp > 1e-6) {
      // -1e999 parses as -Infinity and would be stored as null: the trainer could never use the turn.
      const nonFinite = typeof lp === 'number' && !Number.isFinite(lp);
      const shown = typeof lp === 'number' ? String(lp) : JSON.stringify(lp);
      throw bad(ctx, `choices[0].logprobs.content[${i}].logprob`, `expected a finite log-probability <= 0, got ${shown}`, { resample: nonFinite });
    }
    logprobs.push(lp >= 0 ? 0 : lp); // also folds -0 and rounding noise above 0
    tokenStrings.push((entry as Record<string, unknown>).token);
  }

  let tokenIds: number[];
  if (Array.isArray(choice.token_ids)) {
    if (!choice.token_ids.every((t): t is number => Number.isInteger(t) && (t as number) >= 0)) {
      throw bad(ctx, 'choices[0].token_ids', 'not an array of non-negative integers');
    }
    tokenIds = choice.token_ids;
  } else {
    tokenIds = [];
    for (const [i, tok] of tokenStrings.entries()) {
      const m = typeof tok === 'string' ? TOKEN_ID_RE.exec(tok) : null;
      if (!m) {
        throw bad(
          ctx,
          'token ids',
          `no choices[0].token_ids and choices[0].logprobs.content[${i}].token is ${JSON.stringify(tok)}, not "token_id:<n>" ` +
            '(vLLM: request return_tokens_as_token_ids)',
        );
      }
      tokenIds.push(Number(m[1]));
    }
  }
  if (tokenIds.length !== logprobs.length) {
    throw bad(ctx, 'choices[0].token_ids', `${tokenIds.length} token ids but ${logprobs.length} logprobs`);
  }

  const usage = rec.usage as Record<string, unknown> | undefined;
  const promptTokens = usage?.prompt_tokens;
  if (typeof promptTokens !== 'number' || !Number.isInteger(promptTokens) || promptTokens < 0) {
    throw bad(ctx, 'usage.prompt_tokens', `got ${JSON.stringify(promptTokens)}`);
  }
  const completionTokens = typeof usage?.completion_tokens === 'number' ? usage.completion_tokens : tokenIds.length;

  const echo = rec.swerl_decoding;
  const decodingEchoed = typeof echo === 'object' && echo !== null;
  if (decodingEchoed) {
    const diffs = decodingDifferences(ctx.request.decoding, ctx.request.seed, echo as Record<string, unknown>);
    if (diffs.length > 0) {
      const list = diffs.map((d) => `${d.field}: requested ${JSON.stringify(d.requested)}, applied ${JSON.stringify(d.applied)}`);
      throw new PolicyError(
        ErrorCodes.DECODING_MISMATCH,
        `policy server ${ctx.url} (model ${ctx.request.model}) sampled with other decoding parameters than requested: ${list.join('; ')}`,
        { url: ctx.url, model: ctx.request.model, differences: diffs },
      );
    }
  }

  const finish = choice.finish_reason;
  return {
    text,
    tokenIds,
    logprobs,
    promptTokens,
    completionTokens,
    finishReason: typeof finish === 'string' ? finish : 'unknown',
    decoding: ctx.request.decoding,
    decodingEchoed,
    model: typeof rec.model === 'string' ? rec.model : ctx.request.model,
    latencyMs: ctx.latencyMs,
  };
}

// ---------------------------------------------------------------------------------------------
// Transport failures
// ---------------------------------------------------------------------------------------------

const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED',
]);

function causeChain(err: unknown): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  let cur: unknown = err;
  for (let i = 0; cur && typeof cur === 'object' && i < 6; i++) {
    out.push(cur as Record<string, unknown>);
    cur = (cur as { cause?: unknown }).cause;
  }
  return out;
}

/**
 * A fetch that threw (no HTTP status): a timeout, a refused or reset connection, DNS. All of these
 * say the server is not there right now, so all are infra failures Temporal retries.
 */
export function classifyTransportError(err: unknown, url: string, timeoutMs: number): PolicyError {
  const chain = causeChain(err);
  const timedOut = chain.some((e) => e.name === 'TimeoutError');
  const code = chain.map((e) => e.code).find((c): c is string => typeof c === 'string' && NETWORK_CODES.has(c));
  const what = timedOut
    ? `no answer within ${timeoutMs} ms`
    : code
      ? `connection failed (${code})`
      : `request failed (${chain.map((e) => String(e.message ?? e)).join(': ')})`;
  return new PolicyError(ErrorCodes.POLICY_UNAVAILABLE, `policy server ${url}: ${what}`, { url, timeoutMs, networkCode: code, timedOut }, { cause: err });
}
