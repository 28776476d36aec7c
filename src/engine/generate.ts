/**
 * The token loop: prompt evaluation, sampling, stop conditions and streaming text.
 * Stops on the vocabulary's <eos> (1) and <end_of_turn> (107), which instruction-tuned Gemma
 * ends its turns with, and on user stop strings, which may span token boundaries: text that could still be
 * the start of a stop string is held back until it is known not to be one.
 */
import { GemmaError } from '../errors.js';
import { Rng, randomSeed } from '../sampling/rng.js';
import { sample } from '../sampling/sampler.js';
import type { Tokenizer } from '../tokenizer/types.js';
import type { Session } from './session.js';
import type { GenerateOptions, GenerateResult, StreamChunk } from './types.js';

export const DEFAULT_MAX_TOKENS = 256;

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

/**
 * Generates after `promptIds`, which are appended to `session`. Yields each token with the text
 * it made visible; returns the summary.
 */
export async function* generateTokens(
  session: Session, tokenizer: Tokenizer, promptIds: number[], o: GenerateOptions = {},
): AsyncGenerator<StreamChunk, GenerateResult> {
  if (promptIds.length === 0) throw new GemmaError('the prompt is empty');
  const room = session.contextLength - session.length - promptIds.length;
  if (room < 1) {
    throw new GemmaError(`the prompt (${promptIds.length} tokens) does not fit in the context (${session.contextLength - session.length} tokens left)`);
  }
  const maxTokens = o.maxTokens ?? DEFAULT_MAX_TOKENS;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new GemmaError(`maxTokens must be a non-negative integer, got ${maxTokens}`);
  const limit = Math.min(maxTokens, room);
  const rng = new Rng(o.seed ?? randomSeed());
  const stops = new StopMatcher((o.stop ?? []).filter((s) => s.length > 0));
  const decoder = tokenizer.createStreamDecoder();
  const tokens: number[] = [];
  let finishReason: 'stop' | 'length' = 'length';

  const t0 = performance.now();
  let logits = await session.eval(promptIds);
  const promptMs = performance.now() - t0;
  const t1 = performance.now();
  while (tokens.length < limit) {
    if (o.signal?.aborted) break;
    const token = sample(logits, o, rng);
    if (!o.ignoreEos && tokenizer.stopIds.includes(token)) {
      finishReason = 'stop';
      break;
    }
    tokens.push(token);
    const { text, stopped } = stops.push(decoder.push(token));
    yield { text, token };
    if (stopped) {
      finishReason = 'stop';
      break;
    }
    if (tokens.length < limit) logits = await session.eval([token]);
  }
  // Release what the decoder and the stop matcher still hold (a final chunk with token -1).
  const tail = stops.push(decoder.flush());
  if (tail.stopped) finishReason = 'stop';
  const rest = tail.stopped ? tail.text : tail.text + stops.flush();
  if (rest) yield { text: rest, token: -1 };
  const decodeMs = performance.now() - t1;
  return {
    text: stops.fullText,
    tokens,
    finishReason,
    usage: { promptTokens: promptIds.length, completionTokens: tokens.length },
    timings: {
      promptMs, promptTokensPerSecond: (promptIds.length * 1000) / promptMs,
      decodeMs, decodeTokensPerSecond: tokens.length > 1 ? ((tokens.length - 1) * 1000) / decodeMs : 0,
    },
  };
}
