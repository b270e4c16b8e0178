/**
 * One policy turn over HTTP: POST /v1/chat/completions on an OpenAI-compatible server. The
 * classification of what comes back lives in ./protocol (pure, unit-tested); this file only moves
 * bytes and measures time. The request id header lets a server (or its logs) recognise a retry of
 * the same turn; swerl itself never re-generates a persisted turn.
 */
import type { Decoding } from '../../core/config';
import { buildRequestBody, classifyTransportError, interpretResponse, type ChatMessage, type PolicyOutcome } from './protocol';

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
}

export function chatCompletionsUrl(base: string): string {
  const trimmed = base.replace(/\/+$/, '');
  return trimmed.endsWith('/v1') ? `${trimmed}/chat/completions` : `${trimmed}/v1/chat/completions`;
}

export async function complete(opts: CompleteOptions): Promise<PolicyOutcome> {
  const url = chatCompletionsUrl(opts.url);
  const request = { model: opts.model, messages: opts.messages, decoding: opts.decoding, seed: opts.seed };
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json', ...opts.headers };
  if (opts.idempotencyKey !== undefined) headers['x-request-id'] = opts.idempotencyKey;
  const started = performance.now();
  let status: number;
  let bodyText: string;
  try {
    const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(buildRequestBody(request)), signal });
    status = res.status;
    // The body is read under the same signal: a server that sends headers and then stalls times out too.
    bodyText = await res.text();
  } catch (err) {
    if (opts.signal?.aborted) throw opts.signal.reason ?? err;
    throw classifyTransportError(err, url, opts.timeoutMs);
  }
  const latencyMs = Math.round(performance.now() - started);
  return interpretResponse(status, bodyText, { url, request, latencyMs });
}
