/**
 * The token loop: prompt evaluation, sampling, stop conditions and streaming text.
 * Stops on the vocabulary's <eos> (1) and <end_of_turn> (107), which instruction-tuned Gemma
 * ends its turns with, and on user stop strings, which may span token boundaries: text that could still be
 * the start of a stop string is held back until it is known not to be one.
 *
 * Context policy: a prompt that leaves no room for one token is refused; an explicit maxTokens
 * that does not fit beside the prompt is refused (both GemmaError, before any evaluation);
 * without maxTokens, generation stops at 256 tokens or when the context is full, and with
 * maxTokens −1 only when the context is full (finishReason 'length'). Nothing is ever evaluated
 * past the session's context length (at most the model's 8192).
 *
 * Sampling: llama.cpp's chain and defaults (see sampling/sampler.ts); the penalties look at the
 * last repeatLastN tokens of the session, prompt included, as llama.cpp's CLI does. ignoreEos
 * bans the stop tokens with a −∞ bias, as llama.cpp's --ignore-eos.
 *
 * Between two steps (and every PROMPT_CHUNK prompt tokens) the loop yields to the event loop,
 * so that signal handlers and I/O run, and checks the abort signal.
 */
import { GemmaError } from '../errors.js';
import { Rng, randomSeed } from '../sampling/rng.js';
import { logSoftmaxNormalizer, resolveSampling, sample, topEntries, type ResolvedSampling } from '../sampling/sampler.js';
import type { Tokenizer } from '../tokenizer/types.js';
import type { Session } from './session.js';
import type { FinishReason, GenerateOptions, GenerateResult, StreamChunk, TokenLogprob, TopLogprob } from './types.js';

export const DEFAULT_MAX_TOKENS = 256;
/** Most alternatives `logprobs` may ask for (OpenAI's limit for top_logprobs). */
export const MAX_LOGPROBS = 20;
/** Prompt tokens evaluated between two checks of the abort signal (the forward pass's batch). */
export const PROMPT_CHUNK = 256;

/** Holds back text that may be the beginning of a stop string. */
export class StopMatcher {
  private text = '';
  private emitted = 0;
  private readonly longest: number;

  constructor(private readonly stops: string[]) {
    this.longest = stops.reduce((m, s) => Math.max(m, s.length), 0);
  }

  /** Adds text; returns what may be emitted now and whether a stop string was hit. */
  push(piece: string): { text: string; stopped: boolean } {
    const from = Math.max(0, this.emitted - this.longest);
    this.text += piece;
    let hit = -1;
    for (const s of this.stops) {
      const i = this.text.indexOf(s, from);
      if (i >= 0 && (hit < 0 || i < hit)) hit = i;
    }
    if (hit >= 0) {
      const out = this.text.slice(this.emitted, Math.max(hit, this.emitted));
      this.text = this.text.slice(0, hit);
      this.emitted = this.text.length;
      return { text: out, stopped: true };
    }
    let safe = this.text.length;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, this.text.length); k > 0; k--) {
        if (this.text.endsWith(s.slice(0, k))) { safe = Math.min(safe, this.text.length - k); break; }
      }
    }
    safe = Math.max(safe, this.emitted);
    const out = this.text.slice(this.emitted, safe);
    this.emitted = safe;
    return { text: out, stopped: false };
  }

  /** Text still held back (emitted at the end when no stop string followed). */
  flush(): string {
    const out = this.text.slice(this.emitted);
    this.emitted = this.text.length;
    return out;
  }

  get fullText(): string {
    return this.text;
  }
}

/** Lets timers, I/O and signal handlers run (the forward pass itself is synchronous). */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)));
}

/** Checks the options that do not depend on a model (GemmaError naming the option otherwise). */
export function checkGenerateOptions(o: GenerateOptions): void {
  if (typeof o !== 'object' || o === null) throw new GemmaError('generation options must be an object');
  if (o.seed !== undefined && (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffffffff)) {
    throw new GemmaError(`seed must be an integer in 0..4294967295, got ${String(o.seed)}`);
  }
  if (o.logprobs !== undefined && (!Number.isInteger(o.logprobs) || o.logprobs < 0 || o.logprobs > MAX_LOGPROBS)) {
    throw new GemmaError(`logprobs must be an integer in 0..${MAX_LOGPROBS}, got ${String(o.logprobs)}`);
  }
  if (o.stop !== undefined && (!Array.isArray(o.stop) || o.stop.some((s) => typeof s !== 'string'))) {
    throw new GemmaError('stop must be an array of strings');
  }
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw new GemmaError('signal must be an AbortSignal');
  if (o.maxTokens !== undefined && (!Number.isInteger(o.maxTokens) || o.maxTokens < -1)) {
    throw new GemmaError(`maxTokens must be a non-negative integer or -1 (until the context is full), got ${String(o.maxTokens)}`);
  }
  resolveSampling(o);
}

/** Describes tokens for `logprobs` (text as decoded alone, UTF-8 bytes). */
export class TokenDescriber {
  private readonly utf8 = new TextEncoder();
  constructor(private readonly tokenizer: Tokenizer) {}

  describe(id: number, logprob: number): TopLogprob {
    if (id >= this.tokenizer.vocabSize) return { token: id, text: '', bytes: [], logprob };
    const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(this.tokenizer.idToPiece(id));
    const text = this.tokenizer.decode([id]);
    return { token: id, text, bytes: m ? [parseInt(m[1], 16)] : [...this.utf8.encode(text)], logprob };
  }

  entry(logits: Float32Array, token: number, n: number): TokenLogprob {
    const norm = logSoftmaxNormalizer(logits);
    return {
      ...this.describe(token, logits[token] - norm),
      topLogprobs: topEntries(logits, n).map((e) => this.describe(e.id, e.logit - norm)),
    };
  }
}

/** Internal: how the prompt relates to what the session already holds. */
export interface PromptInfo {
  /** Tokens of the prompt already in the session (reused), before `promptIds`. */
  cachedTokens?: number;
}

/**
 * Generates after `promptIds`, which are appended to `session`. Yields each token with the text
 * it made visible; returns the summary. The sampler's penalties see the whole session.
 */
export async function* generateTokens(
  session: Session, tokenizer: Tokenizer, promptIds: number[], o: GenerateOptions = {}, info: PromptInfo = {},
): AsyncGenerator<StreamChunk, GenerateResult> {
  checkGenerateOptions(o);
  if (!Array.isArray(promptIds) || promptIds.length === 0) throw new GemmaError('the prompt is empty');
  const cachedTokens = info.cachedTokens ?? 0;
  const promptTokens = cachedTokens + promptIds.length;
  const ctx = session.contextLength;
  const free = ctx - session.length - promptIds.length;
  if (free < 1) {
    throw new GemmaError(`the prompt (${promptTokens} tokens) does not fit in the context (${ctx} tokens) with room for an answer`);
  }
  let limit: number;
  if (o.maxTokens === undefined) limit = Math.min(DEFAULT_MAX_TOKENS, free);
  else if (o.maxTokens === -1) limit = free;
  else {
    const m = o.maxTokens;
    if (!Number.isInteger(m) || m < 0) throw new GemmaError(`maxTokens must be a non-negative integer or -1 (until the context is full), got ${String(m)}`);
    if (m > free) {
      throw new GemmaError(`the prompt (${promptTokens} tokens) plus maxTokens (${m}) exceeds the context length (${ctx}); ` +
        'lower maxTokens, shorten the prompt or use a larger context');
    }
    limit = m;
  }
  const sampling: ResolvedSampling = resolveSampling(o, session.vocabSize);
  if (o.ignoreEos) {
    const bias = new Map(sampling.logitBias);
    for (const id of tokenizer.stopIds) if (id < session.vocabSize) bias.set(id, -Infinity);
    sampling.logitBias = [...bias.entries()].sort((a, b) => a[0] - b[0]);
  }
  const seed = o.seed ?? randomSeed();
  const rng = new Rng(seed);
  const stops = new StopMatcher((o.stop ?? []).filter((s) => s.length > 0));
  const decoder = tokenizer.createStreamDecoder();
  const describer = o.logprobs !== undefined ? new TokenDescriber(tokenizer) : undefined;
  const logprobs: TokenLogprob[] = [];
  const tokens: number[] = [];
  const signal = o.signal;
  let finishReason: FinishReason = 'length';

  const t0 = performance.now();
  let logits: Float32Array | undefined;
  let evaluated = 0;
  while (evaluated < promptIds.length) {
    if (signal?.aborted) break;
    const chunk = promptIds.slice(evaluated, evaluated + PROMPT_CHUNK);
    logits = await session.eval(chunk);
    evaluated += chunk.length;
    if (evaluated < promptIds.length) await yieldToEventLoop();
  }
  const promptMs = performance.now() - t0;
  const t1 = performance.now();
  if (evaluated < promptIds.length) finishReason = 'abort';
  else {
    while (tokens.length < limit) {
      if (signal?.aborted) { finishReason = 'abort'; break; }
      const token = sample(logits!, sampling, rng, session.tokens);
      if (tokenizer.stopIds.includes(token)) {
        finishReason = 'stop';
        break;
      }
      tokens.push(token);
      const logprob = describer?.entry(logits!, token, o.logprobs!);
      if (logprob) logprobs.push(logprob);
      const { text, stopped } = stops.push(decoder.push(token));
      yield logprob ? { text, token, logprob } : { text, token };
      if (stopped) {
        finishReason = 'stop';
        break;
      }
      if (tokens.length < limit) {
        await yieldToEventLoop();
        if (signal?.aborted) { finishReason = 'abort'; break; }
        logits = await session.eval([token]);
      }
    }
  }
  // Release what the decoder and the stop matcher still hold (a final chunk with token -1).
  const tail = stops.push(decoder.flush());
  if (tail.stopped) finishReason = 'stop';
  const rest = tail.stopped ? tail.text : tail.text + stops.flush();
  if (rest) yield { text: rest, token: -1 };
  const decodeMs = performance.now() - t1;
  const promptEvaluated = evaluated;
  return {
    text: stops.fullText,
    tokens,
    finishReason,
    seed,
    usage: { promptTokens, cachedTokens, completionTokens: tokens.length },
    timings: {
      promptMs, promptTokensPerSecond: promptEvaluated > 0 && promptMs > 0 ? (promptEvaluated * 1000) / promptMs : 0,
      decodeMs, decodeTokensPerSecond: tokens.length > 1 && decodeMs > 0 ? ((tokens.length - 1) * 1000) / decodeMs : 0,
    },
    ...(describer ? { logprobs } : {}),
  };
}
