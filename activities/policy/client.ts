/**
 * One policy turn over HTTP: POST /v1/chat/completions on an OpenAI-compatible server. The
 * classification of what comes back lives in ./protocol (pure, unit-tested); this file only moves
 * bytes and measures time. The request id header lets a server (or its logs) recognise a retry of
 * the same turn; swerl itself never re-generates a persisted turn.
 */
import type { Decoding } from '../../core/config';
import { ErrorCodes, PolicyError } from '../../core/errors';
import { buildRequestBody, classifyTransportError, interpretResponse, isResampleable, type ChatMessage, type PolicyOutcome } from './protocol';

/** Answers that are malformed in a way worth asking again for (isResampleable) get this many tries in all. */
export const BAD_RESPONSE_ATTEMPTS = 3;
/** No completion of one turn is near this; a bigger body is a broken or hostile server, not read into memory. */
export const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

export type { ChatMessage, PolicyCompletion, PolicyOutcome } from './protocol';

export interface CompleteOptions {
  /** Base URL of the server, with or without a trailing /v1. */
  url: string;
  model: string;
  messages: ChatMessage[];
  decoding: Decoding;
  seed?: number;
  timeoutMs: number;
  /** The activity's cancellation signal: an abort from here is re-thrown as is, not classified. */
  signal?: AbortSignal;
  idempotencyKey?: string;
  /** Extra headers, e.g. X-Swerl-Task for the scripted server. */
  headers?: Record<string, string>;
  /** Default MAX_RESPONSE_BYTES. */
  maxResponseBytes?: number;
  /** The policy version (checkpoint id) the episode samples from; see CompletionRequest.expectedVersion. */
  expectedVersion?: string;
}

export function chatCompletionsUrl(base: string): string {
  const trimmed = base.replace(/\/+$/, '');
  return trimmed.endsWith('/v1') ? `${trimmed}/chat/completions` : `${trimmed}/v1/chat/completions`;
}

/**
 * One policy turn. A bad answer worth asking again for (a non-finite logprob, an oversized body)
 * is asked again up to BAD_RESPONSE_ATTEMPTS times in all, then its SWERL_POLICY_BAD_RESPONSE is
 * final; nothing of the turn is persisted before an answer is accepted, so asking again re-samples
 * nothing that was recorded.
 */
export async function complete(opts: CompleteOptions): Promise<PolicyOutcome> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await completeOnce(opts);
    } catch (err) {
      if (!isResampleable(err) || attempt >= BAD_RESPONSE_ATTEMPTS) throw err;
    }
  }
}

async function completeOnce(opts: CompleteOptions): Promise<PolicyOutcome> {
  const url = chatCompletionsUrl(opts.url);
  const request = { model: opts.model, messages: opts.messages, decoding: opts.decoding, seed: opts.seed, expectedVersion: opts.expectedVersion };
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json', ...opts.headers };
  if (opts.idempotencyKey !== undefined) headers['x-request-id'] = opts.idempotencyKey;
  const maxBytes = opts.maxResponseBytes ?? MAX_RESPONSE_BYTES;
  const started = performance.now();
  let status: number;
  let bodyText: string;
  try {
    const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(buildRequestBody(request)), signal });
    status = res.status;
    // The body is read under the same signal: a server that sends headers and then stalls times out too.
    bodyText = await readCapped(res, maxBytes);
  } catch (err) {
    if (err instanceof PolicyError) {
      throw new PolicyError(err.code, `policy server ${url}: ${err.message}`, { ...err.details, url, model: opts.model });
    }
    if (opts.signal?.aborted) throw opts.signal.reason ?? err;
    throw classifyTransportError(err, url, opts.timeoutMs);
  }
  const latencyMs = Math.round(performance.now() - started);
  return interpretResponse(status, bodyText, { url, request, latencyMs });
}

/** The body as text, or a resampleable SWERL_POLICY_BAD_RESPONSE once it passes `maxBytes` (the rest is not read). */
async function readCapped(res: Response, maxBytes: number): Promise<string> {
  if (!res.body) return '';
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body.cancel().catch(() => undefined);
    throw oversized(maxBytes);
  }
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw oversized(maxBytes);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function oversized(maxBytes: number): PolicyError {
  return new PolicyError(ErrorCodes.POLICY_BAD_RESPONSE, `response body larger than ${maxBytes} bytes (not read further)`, { field: 'body', maxBytes, resample: true });
}
