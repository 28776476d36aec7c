import type { SamplingOptions } from '../sampling/sampler.js';

export type { ChatMessage } from '../tokenizer/types.js';

export interface GenerateOptions extends SamplingOptions {
  /** Most tokens to generate (default 256; never past the context length). */
  maxTokens?: number;
  /** Seed for sampling; the same seed and options give the same tokens. */
  seed?: number;
  /** Strings that end generation; they are not included in the returned text. */
  stop?: string[];
  /** Keep going past <eos> and <end_of_turn>. */
  ignoreEos?: boolean;
  signal?: AbortSignal;
}

export interface GenerateResult {
  text: string;
  tokens: number[];
  finishReason: 'stop' | 'length';
  usage: { promptTokens: number; completionTokens: number };
  timings: { promptMs: number; promptTokensPerSecond: number; decodeMs: number; decodeTokensPerSecond: number };
}

export interface StreamChunk {
  /** Text this token made visible (may be empty while a stop string could still match). */
  text: string;
  /** The generated token id; -1 for a final chunk that only releases held-back text. */
  token: number;
}
