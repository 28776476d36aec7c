import type { SamplingOptions } from '../sampling/sampler.js';

export type { ChatMessage } from '../tokenizer/types.js';
export type { LogitBias, SamplingOptions } from '../sampling/sampler.js';

export interface GenerateOptions extends SamplingOptions {
  /**
   * Most tokens to generate. Given explicitly, the prompt plus maxTokens must fit in the
   * context, or generation is refused with a GemmaError before anything runs. Left out, it is
   * 256, or fewer when the context is fuller (generation then ends with finishReason 'length').
   * −1: no limit but the context (llama.cpp's n_predict −1).
   */
  maxTokens?: number;
  /** Seed for sampling (an unsigned 32-bit integer); the same seed and options give the same tokens. Default: random, reported in the result. */
  seed?: number;
  /** Strings that end generation, matched across token boundaries; never included in the text. */
  stop?: string[];
  /** Never end at <eos> or <end_of_turn>: they get a −∞ logit bias (llama.cpp's --ignore-eos). */
  ignoreEos?: boolean;
  /**
   * Report the log-probability of every generated token and of the N most likely alternatives
   * at its position (0..20, as OpenAI's top_logprobs). Log-probabilities are those of the model
   * (log-softmax of its logits at temperature 1, before bias, penalties and filtering), as
   * llama.cpp's server reports by default.
   */
  logprobs?: number;
  /** Stops generation (prompt evaluation included) between two steps; the result has finishReason 'abort'. */
  signal?: AbortSignal;
}

export interface TopLogprob {
  token: number;
  /** The token's text (a lone UTF-8 byte of a multi-byte character shows as U+FFFD; see `bytes`). */
  text: string;
  /** The token's UTF-8 bytes. */
  bytes: number[];
  logprob: number;
}

export interface TokenLogprob extends TopLogprob {
  /** The most likely tokens at this position, most likely first. */
  topLogprobs: TopLogprob[];
}

export type FinishReason = 'stop' | 'length' | 'abort';

export interface GenerateResult {
  text: string;
  tokens: number[];
  /**
   * 'stop': <eos>, <end_of_turn> or a stop string; 'length': maxTokens, or the context is full;
   * 'abort': the signal fired.
   */
  finishReason: FinishReason;
  /** The seed sampling used (pass it back to reproduce the run). */
  seed: number;
  usage: {
    /** Tokens of the whole prompt. */
    promptTokens: number;
    /** Prompt tokens whose KV entries were reused from an earlier turn, so not evaluated again. */
    cachedTokens: number;
    completionTokens: number;
  };
  /** Speeds: the prompt over the tokens actually evaluated; decoding over generated tokens after the first. */
  timings: { promptMs: number; promptTokensPerSecond: number; decodeMs: number; decodeTokensPerSecond: number };
  /** With `logprobs`: one entry per generated token. */
  logprobs?: TokenLogprob[];
}

export interface StreamChunk {
  /** Text this token made visible (may be empty while a stop string could still match). */
  text: string;
  /** The generated token id; -1 for a final chunk that only releases held-back text. */
  token: number;
  /** With `logprobs`: this token's entry. */
  logprob?: TokenLogprob;
}
