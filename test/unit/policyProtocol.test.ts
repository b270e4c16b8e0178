import { describe, expect, it } from 'vitest';
import { DecodingSchema } from '../../core/config';
import { ErrorCodes, PolicyError } from '../../core/errors';
import {
  buildRequestBody,
  classifyTransportError,
  decodingDifferences,
  interpretResponse,
  isResampleable,
  type CompletionRequest,
  type ParseContext,
  type PolicyOutcome,
} from '../../activities/policy/protocol';
import { chatCompletionsUrl } from '../../activities/policy/client';

const paper = DecodingSchema.parse({}); // temperature 1, top_p 1, top_k -1, min_p 0, rep 1, 4096
const request: CompletionRequest = { model: 'm', messages: [{ role: 'user', content: 'hi' }], decoding: paper, seed: 7 };
const ctx: ParseContext = { url: 'http://policy:8000/v1/chat/completions', request, latencyMs: 12 };
/** The request names the policy version the server must answer as. */
const ctxFor = (model: string): ParseContext => ({ ...ctx, request: { ...request, model } });
const vllmCtx = ctxFor('Qwen/Qwen2.5-72B-Instruct');
const trainerCtx = ctxFor('ckpt-0003');

function caught(fn: () => unknown): PolicyError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyError);
    return err as PolicyError;
  }
  throw new Error('expected a PolicyError');
}

function completionOf(outcome: PolicyOutcome) {
  if (outcome.kind !== 'completion') throw new Error(`expected a completion, got ${outcome.kind}`);
  return outcome.completion;
}

// vLLM with logprobs: true and return_tokens_as_token_ids: true (no token_ids field, no echo).
const vllmBody = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  model: 'Qwen/Qwen2.5-72B-Instruct',
  choices: [
    {
      index: 0,
      message: { role: 'assistant', content: 'ls' },
      logprobs: {
        content: [
          { token: 'token_id:4730', logprob: -0.25, bytes: [108, 115], top_logprobs: [] },
          { token: 'token_id:151645', logprob: -0.0, bytes: [], top_logprobs: [] },
        ],
      },
      finish_reason: 'stop',
    },
  ],
  usage: { prompt_tokens: 31, completion_tokens: 2, total_tokens: 33 },
};

// trainer/swerl_trainer/server.py: token_ids per choice and the swerl_decoding echo.
function trainerBody(echo: Record<string, unknown> = {}) {
  return {
    id: 'chatcmpl-2',
    object: 'chat.completion',
    model: 'ckpt-0003',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: 'ok' },
        finish_reason: 'length',
        logprobs: { content: [{ token: 'o', logprob: -1.5, bytes: [111], top_logprobs: [] }, { token: 'k', logprob: -0.5, bytes: [107], top_logprobs: [] }] },
        token_ids: [111, 107],
      },
    ],
    usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 },
    swerl_decoding: { temperature: 1.0, top_p: 1.0, top_k: -1, min_p: 0.0, repetition_penalty: 1.0, max_tokens: 4096, seed: 7, max_tokens_effective: 300, stop: [], ...echo },
  };
}

describe('request body', () => {
  it('sends every decoding knob explicitly, plus the logprob and token-id switches', () => {
    const d = DecodingSchema.parse({ temperature: 0.7, topP: 0.9, topK: 20, minP: 0.05, repetitionPenalty: 1.1, maxTokensPerTurn: 512 });
    expect(buildRequestBody({ model: 'x', messages: [{ role: 'system', content: 's' }], decoding: d, seed: 3 })).toEqual({
      model: 'x',
      messages: [{ role: 'system', content: 's' }],
      n: 1,
      stream: false,
      temperature: 0.7,
      top_p: 0.9,
      top_k: 20,
      min_p: 0.05,
      repetition_penalty: 1.1,
      max_tokens: 512,
      seed: 3,
      logprobs: true,
      return_tokens_as_token_ids: true,
      return_token_ids: true,
    });
    expect(buildRequestBody({ model: 'x', messages: [], decoding: d })).not.toHaveProperty('seed');
  });

  it('accepts a base URL with or without /v1', () => {
    expect(chatCompletionsUrl('http://h:1')).toBe('http://h:1/v1/chat/completions');
    expect(chatCompletionsUrl('http://h:1/v1/')).toBe('http://h:1/v1/chat/completions');
  });
});

describe('parsing completions', () => {
  it("reads vLLM's token_id:N tokens and logprobs", () => {
    const c = completionOf(interpretResponse(200, JSON.stringify(vllmBody), vllmCtx));
    expect(c).toEqual({
      text: 'ls',
      tokenIds: [4730, 151645],
      logprobs: [-0.25, 0],
      promptTokens: 31,
      completionTokens: 2,
      finishReason: 'stop',
      decoding: paper,
      decodingEchoed: false,
      model: 'Qwen/Qwen2.5-72B-Instruct',
      latencyMs: 12,
    });
  });

  it("reads our trainer's token_ids and accepts a matching decoding echo", () => {
    const c = completionOf(interpretResponse(200, JSON.stringify(trainerBody()), trainerCtx));
    expect(c.tokenIds).toEqual([111, 107]);
    expect(c.logprobs).toEqual([-1.5, -0.5]);
    expect(c.finishReason).toBe('length');
    expect(c.decodingEchoed).toBe(true);
    expect(c.model).toBe('ckpt-0003');
  });

  it('treats top_k 0 and -1 (both: disabled) as the same sampler', () => {
    expect(completionOf(interpretResponse(200, JSON.stringify(trainerBody({ top_k: 0 })), trainerCtx)).text).toBe('ok');
  });

  it('refuses a completion sampled with other decoding params (the paper: silent top_k/min_p)', () => {
    const err = caught(() => interpretResponse(200, JSON.stringify(trainerBody({ top_k: 40, min_p: 0.05 })), trainerCtx));
    expect(err.code).toBe(ErrorCodes.DECODING_MISMATCH);
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('top_k: requested -1, applied 40; min_p: requested 0, applied 0.05');
    expect(err.details.differences).toEqual([
      { field: 'top_k', requested: -1, applied: 40 },
      { field: 'min_p', requested: 0, applied: 0.05 },
    ]);
  });

  it('names the missing field of a 200 without logprobs or token ids', () => {
    const noLogprobs = structuredClone(vllmBody) as { choices: Array<Record<string, unknown>> };
    noLogprobs.choices[0]!.logprobs = null;
    const e1 = caught(() => interpretResponse(200, JSON.stringify(noLogprobs), vllmCtx));
    expect(e1.code).toBe(ErrorCodes.POLICY_BAD_RESPONSE);
    expect(e1.retryable).toBe(false);
    expect(e1.details.field).toBe('choices[0].logprobs.content');

    const stringTokens = structuredClone(vllmBody);
    stringTokens.choices[0]!.logprobs.content[1]!.token = '<|im_end|>';
    const e2 = caught(() => interpretResponse(200, JSON.stringify(stringTokens), vllmCtx));
    expect(e2.code).toBe(ErrorCodes.POLICY_BAD_RESPONSE);
    expect(e2.details.field).toBe('token ids');
    expect(e2.message).toContain('logprobs.content[1].token is "<|im_end|>"');
  });

  it('rejects token ids and logprobs of different lengths, positive logprobs and a missing usage', () => {
    const short = trainerBody();
    short.choices[0]!.token_ids = [111];
    expect(caught(() => interpretResponse(200, JSON.stringify(short), trainerCtx)).details.field).toBe('choices[0].token_ids');
    const positive = trainerBody();
    positive.choices[0]!.logprobs.content[0]!.logprob = 0.5;
    expect(caught(() => interpretResponse(200, JSON.stringify(positive), trainerCtx)).details.field).toBe('choices[0].logprobs.content[0].logprob');
    const noUsage: Record<string, unknown> = trainerBody();
    delete noUsage.usage;
    expect(caught(() => interpretResponse(200, JSON.stringify(noUsage), trainerCtx)).details.field).toBe('usage.prompt_tokens');
    expect(caught(() => interpretResponse(200, JSON.stringify({ model: 'm', choices: [] }), ctx)).details.field).toBe('choices');
  });
});

describe('pinned policy version and hostile answers', () => {
  it('an answer from another policy version (or none named) is SWERL_POLICY_VERSION_MISMATCH, final', () => {
    const other = caught(() => interpretResponse(200, JSON.stringify(trainerBody()), ctxFor('ckpt-0002')));
    expect(other.code).toBe(ErrorCodes.POLICY_VERSION_MISMATCH);
    expect(other.retryable).toBe(false);
    expect(other.details).toMatchObject({ requested: 'ckpt-0002', answered: 'ckpt-0003' });
    // Asked by alias: the answer may echo the alias (vLLM) or name the episode's version (our server).
    const alias = (expectedVersion: string): ParseContext => ({ ...ctx, request: { ...request, model: 'swerl-policy', expectedVersion } });
    expect(completionOf(interpretResponse(200, JSON.stringify(trainerBody()), alias('ckpt-0003'))).model).toBe('ckpt-0003');
    expect(completionOf(interpretResponse(200, JSON.stringify({ ...trainerBody(), model: 'swerl-policy' }), alias('ckpt-0003'))).model).toBe('swerl-policy');
    const restarted = caught(() => interpretResponse(200, JSON.stringify(trainerBody()), alias('ckpt-0002')));
    expect(restarted.code).toBe(ErrorCodes.POLICY_VERSION_MISMATCH);
    expect(restarted.details).toMatchObject({ requested: 'swerl-policy', expected: 'ckpt-0002', answered: 'ckpt-0003' });
    const unnamed: Record<string, unknown> = trainerBody();
    delete unnamed.model;
    expect(caught(() => interpretResponse(200, JSON.stringify(unnamed), trainerCtx)).code).toBe(ErrorCodes.POLICY_VERSION_MISMATCH);
  });

  it('a non-finite logprob (-1e999 parses as -Infinity) is a bad response worth asking again for', () => {
    const body = JSON.stringify(trainerBody()).replace('"logprob":-1.5', '"logprob":-1e999');
    expect(body).toContain('-1e999');
    const err = caught(() => interpretResponse(200, body, trainerCtx));
    expect(err.code).toBe(ErrorCodes.POLICY_BAD_RESPONSE);
    expect(err.message).toContain('got -Infinity');
    expect(isResampleable(err)).toBe(true);
    const positive = trainerBody();
    positive.choices[0]!.logprobs.content[0]!.logprob = 0.5;
    expect(isResampleable(caught(() => interpretResponse(200, JSON.stringify(positive), trainerCtx)))).toBe(false);
  });
});

describe('classifying failures', () => {
  it('5xx, 429 and 408 are infra failures (retryable)', () => {
    for (const status of [500, 502, 503, 429, 408]) {
      const err = caught(() => interpretResponse(status, '{"error":{"message":"overloaded"}}', ctx));
      expect(err.code).toBe(ErrorCodes.POLICY_UNAVAILABLE);
      expect(err.retryable).toBe(true);
      expect(err.message).toContain(`HTTP ${status}: overloaded`);
    }
    expect(caught(() => interpretResponse(502, '<html>Bad Gateway</html>', ctx)).message).toContain('<html>Bad Gateway</html>');
  });

  it('a 200 whose body is not JSON is an infra failure', () => {
    const err = caught(() => interpretResponse(200, '{"choices": [{"mess', ctx));
    expect(err.code).toBe(ErrorCodes.POLICY_UNAVAILABLE);
    expect(err.message).toContain('not JSON');
  });

  it("a context overflow is a model outcome, in our trainer's, vLLM's and llama.cpp's wording", () => {
    const ours = {
      error: {
        message: "This model's maximum context length is 2048 tokens. However, you requested 2100 tokens (2099 in the messages, 1 in the completion). Please reduce the length of the messages or completion.",
        type: 'invalid_request_error',
        param: 'messages',
        code: 'context_length_exceeded',
      },
    };
    expect(interpretResponse(400, JSON.stringify(ours), ctx)).toEqual({ kind: 'context_overflow', promptTokens: 2099, message: ours.error.message });
    const vllmOld = {
      object: 'error',
      message: "This model's maximum context length is 32768 tokens. However, you requested 33000 tokens (32000 in the messages, 1000 in the completion).",
      type: 'BadRequestError',
      param: null,
      code: 400,
    };
    expect(interpretResponse(400, JSON.stringify(vllmOld), ctx)).toMatchObject({ kind: 'context_overflow', promptTokens: 32000 });
    const llamaCpp = { error: { code: 400, message: 'the request exceeds the available context size, try increasing it', type: 'exceed_context_size_error', n_prompt_tokens: 5000, n_ctx: 4096 } };
    expect(interpretResponse(400, JSON.stringify(llamaCpp), ctx)).toMatchObject({ kind: 'context_overflow', promptTokens: 5000 });
    const sglang = { object: 'error', message: "The input (70000 tokens) is longer than the model's context length (65536 tokens).", code: 400 };
    expect(interpretResponse(400, JSON.stringify(sglang), ctx)).toMatchObject({ kind: 'context_overflow', promptTokens: 70000 });
  });

  it('any other 4xx is final and carries the server message', () => {
    const err = caught(() => interpretResponse(400, '{"error":{"message":"top_k must be a number in [-1, None]","param":"top_k"}}', ctx));
    expect(err.code).toBe(ErrorCodes.POLICY_BAD_RESPONSE);
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('HTTP 400): top_k must be a number');
    expect(caught(() => interpretResponse(404, 'Not Found', ctx)).message).toContain('HTTP 404): Not Found');
  });

  it('transport failures are infra: timeouts and refused connections', () => {
    const refused = classifyTransportError(new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) }), 'http://p', 1000);
    expect(refused.code).toBe(ErrorCodes.POLICY_UNAVAILABLE);
    expect(refused.message).toBe('SWERL_POLICY_UNAVAILABLE: policy server http://p: connection failed (ECONNREFUSED)');
    const timeout = classifyTransportError(new DOMException('The operation was aborted due to timeout', 'TimeoutError'), 'http://p', 1500);
    expect(timeout.message).toBe('SWERL_POLICY_UNAVAILABLE: policy server http://p: no answer within 1500 ms');
    expect(timeout.retryable).toBe(true);
  });
});

describe('decoding differences', () => {
  it('compares only what the echo states, by effective behaviour', () => {
    expect(decodingDifferences(paper, undefined, {})).toEqual([]);
    expect(decodingDifferences(paper, undefined, { top_p: 1, top_k: 0, min_p: 0 })).toEqual([]);
    expect(decodingDifferences(paper, 7, { temperature: 0.7, max_tokens: 1024, seed: 8, max_tokens_effective: 10 })).toEqual([
      { field: 'temperature', requested: 1, applied: 0.7 },
      { field: 'max_tokens', requested: 4096, applied: 1024 },
      { field: 'seed', requested: 7, applied: 8 },
    ]);
    expect(decodingDifferences(paper, undefined, { repetition_penalty: '1.0' })).toEqual([
      { field: 'repetition_penalty', requested: 1, applied: '1.0' },
    ]);
  });
});
