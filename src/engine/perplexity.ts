/**
 * Perplexity as llama.cpp's perplexity tool computes it (tools/perplexity, `perplexity()`):
 *
 * - the token sequence is cut into ⌊N / n_ctx⌋ windows of n_ctx tokens (the remainder is
 *   dropped), and at least 2·n_ctx tokens are required;
 * - each window is evaluated on its own, from an empty cache, with its first token replaced by
 *   <bos> (when the vocabulary adds one, as Gemma's does);
 * - only the second half is scored: the logits at window positions n_ctx/2 … n_ctx−2 predict the
 *   tokens at n_ctx/2+1 … n_ctx−1, i.e. n_ctx − n_ctx/2 − 1 tokens per window, each with at least
 *   n_ctx/2 tokens of context;
 * - PPL = exp(mean NLL) over every scored token, with the uncertainty
 *   PPL · sqrt((mean(NLL²) − mean(NLL)²) / (count − 1)) ("Final estimate: PPL = … +/- …").
 *
 * NLLs are accumulated in float64 from float32 logits (llama.cpp: float max, double sum of
 * float exps).
 */
import { GemmaError } from '../errors.js';
import { yieldToEventLoop } from './generate.js';
import type { Session } from './session.js';

export const DEFAULT_PERPLEXITY_CONTEXT = 512;

export interface PerplexityOptions {
  /** Window size n_ctx (default 512, llama.cpp's perplexity default). */
  contextSize?: number;
  /** Score at most this many windows (llama.cpp's --chunks). */
  maxChunks?: number;
  /** Token that replaces the first of every window; null keeps the text's own token. Default: the model's <bos>. */
  bosId?: number | null;
  /** Rows of logits read per evaluation (memory: rows × vocab × 4 bytes). Default 64. */
  batchRows?: number;
  /** Called after each window with the running perplexity (llama.cpp's `[i]ppl,` line). */
  onChunk?: (p: { chunk: number; chunks: number; ppl: number }) => void;
  /** Stops between windows; the result then covers the windows done and has `aborted`. */
  signal?: AbortSignal;
}

export interface PerplexityResult {
  /** exp(mean NLL) over all scored tokens. */
  ppl: number;
  /** llama.cpp's "+/-" figure. */
  uncertainty: number;
  /** Mean negative log-likelihood (nats). */
  meanNll: number;
  /** Tokens in the input. */
  tokens: number;
  /** Tokens scored. */
  scored: number;
  contextSize: number;
  /** Windows evaluated. */
  chunks: number;
  /** The running perplexity after each window. */
  runningPpl: number[];
  ms: number;
  /** Tokens evaluated per second. */
  tokensPerSecond: number;
  aborted: boolean;
}

/** −log softmax(row)[target], as llama.cpp's `log_softmax` (float32 max, float64 sum). */
export function tokenNll(row: Float32Array, target: number): number {
  let max = row[0];
  for (let i = 1; i < row.length; i++) if (row[i] > max) max = row[i];
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  return -(row[target] - max - Math.log(sum));
}

/** Runs the windows on `session` (emptied first and left empty-ish: it is truncated per window). */
export async function perplexity(session: Session, ids: readonly number[], o: PerplexityOptions = {}): Promise<PerplexityResult> {
  const n = o.contextSize ?? DEFAULT_PERPLEXITY_CONTEXT;
  if (!Number.isInteger(n) || n < 4) throw new GemmaError(`perplexity context size must be an integer ≥ 4, got ${String(n)}`);
  if (n > session.contextLength) {
    throw new GemmaError(`perplexity context size ${n} exceeds the model's context length (${session.contextLength})`);
  }
  if (!Array.isArray(ids)) throw new GemmaError('perplexity needs an array of token ids');
  if (ids.length < 2 * n) {
    throw new GemmaError(`perplexity with a context of ${n} tokens needs at least ${2 * n} tokens; the input has ${ids.length}`);
  }
  const maxChunks = o.maxChunks ?? Infinity;
  if (maxChunks !== Infinity && (!Number.isInteger(maxChunks) || maxChunks < 1)) {
    throw new GemmaError(`maxChunks must be a positive integer, got ${String(maxChunks)}`);
  }
  const rows = o.batchRows ?? 64;
  if (!Number.isInteger(rows) || rows < 1) throw new GemmaError(`batchRows must be a positive integer, got ${String(rows)}`);
  const vocab = session.vocabSize;
  for (let i = 0; i < ids.length; i++) {
    if (!Number.isInteger(ids[i]) || ids[i] < 0 || ids[i] >= vocab) {
      throw new GemmaError(`token id ${String(ids[i])} at index ${i} is outside the vocabulary (0..${vocab - 1})`);
    }
  }
  const chunks = Math.min(Math.floor(ids.length / n), maxChunks);
  const first = Math.floor(n / 2);
  const bos = o.bosId === undefined ? null : o.bosId;

  let nll = 0, nll2 = 0, count = 0, evaluated = 0, done = 0;
  const runningPpl: number[] = [];
  const t0 = performance.now();
  for (let c = 0; c < chunks; c++) {
    if (o.signal?.aborted) break;
    const window = ids.slice(c * n, (c + 1) * n);
    if (bos !== null) window[0] = bos;
    session.truncate(0);
    // Unscored context: positions 0 … first−1.
    await session.eval(window.slice(0, first));
    evaluated += first;
    // Scored: the logits at positions first … n−2 predict the tokens after them.
    for (let pos = first; pos < n - 1; pos += rows) {
      const end = Math.min(n - 1, pos + rows);
      const logits = await session.eval(window.slice(pos, end), { allLogits: true });
      evaluated += end - pos;
      for (let r = 0; r < end - pos; r++) {
        const v = tokenNll(logits.subarray(r * vocab, (r + 1) * vocab), window[pos + r + 1]);
        nll += v;
        nll2 += v * v;
        count++;
      }
      await yieldToEventLoop();
    }
    done++;
    const ppl = Math.exp(nll / count);
    runningPpl.push(ppl);
    o.onChunk?.({ chunk: c + 1, chunks, ppl });
  }
  session.truncate(0);
  const ms = performance.now() - t0;
  const meanNll = count > 0 ? nll / count : NaN;
  const ppl = Math.exp(meanNll);
  const variance = count > 1 ? nll2 / count - meanNll * meanNll : NaN;
  return {
    ppl, uncertainty: variance > 0 ? ppl * Math.sqrt(variance / (count - 1)) : NaN, meanNll,
    tokens: ids.length, scored: count, contextSize: n, chunks: done, runningPpl, ms,
    tokensPerSecond: ms > 0 ? (evaluated * 1000) / ms : 0, aborted: done < chunks,
  };
}
