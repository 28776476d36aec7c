/**
 * Token sampling from a row of logits, stage for stage as llama.cpp's default chain
 * (common/sampling.cpp, src/llama-sampling.cpp):
 *
 *   logit bias → penalties (repeat, presence, frequency over the last N tokens) → top-k →
 *   typical-p → top-p → min-p → temperature → draw
 *
 * Top-p, typical-p and min-p look at the probabilities of the candidates still in the running
 * at temperature 1; temperature only shapes the final draw. `temperature ≤ 0` is greedy: the
 * highest logit after bias and penalties (lowest id on ties). Defaults are llama.cpp's CLI
 * defaults (`SAMPLING_DEFAULTS`).
 */
import { GemmaError } from '../errors.js';
import { Rng } from './rng.js';

/** Token id → bias added to its logit (−Infinity bans the token). */
export type LogitBias = Record<number, number> | ReadonlyMap<number, number>;

export interface SamplingOptions {
  /** 0 = greedy. Default 0.8. */
  temperature?: number;
  /** Keep the k most likely tokens; 0 = off. Default 40. */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p; 1 = off. Default 0.95. */
  topP?: number;
  /** Drop tokens less likely than minP × the most likely one; 0 = off. Default 0.05. */
  minP?: number;
  /**
   * Locally typical sampling: keep the tokens whose surprise −log p is closest to the entropy
   * until their probability exceeds p; 1 = off (default).
   */
  typicalP?: number;
  /**
   * Repetition penalty for tokens among the last `repeatLastN`: a positive logit is divided by
   * it, a negative one multiplied. 1 = off (default).
   */
  repeatPenalty?: number;
  /** How many of the latest tokens (prompt included) the penalties look at; 0 = none, −1 = all. Default 64. */
  repeatLastN?: number;
  /** Subtracted once from the logit of every token among the last `repeatLastN`. Default 0. */
  presencePenalty?: number;
  /** Subtracted from a token's logit once per occurrence among the last `repeatLastN`. Default 0. */
  frequencyPenalty?: number;
  /** Added to the logits before anything else. */
  logitBias?: LogitBias;
}

export interface ResolvedSampling {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  typicalP: number;
  repeatPenalty: number;
  repeatLastN: number;
  presencePenalty: number;
  frequencyPenalty: number;
  /** Sorted by id; no duplicates. */
  logitBias: [number, number][];
}

/** llama.cpp's CLI defaults (common/common.h `common_params_sampling`). */
export const SAMPLING_DEFAULTS: Readonly<Omit<ResolvedSampling, 'logitBias'>> = Object.freeze({
  temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, typicalP: 1,
  repeatPenalty: 1, repeatLastN: 64, presencePenalty: 0, frequencyPenalty: 0,
});

function check(ok: boolean, message: string): void {
  if (!ok) throw new GemmaError(message);
}

function biasEntries(bias: LogitBias | undefined): [number, number][] {
  if (bias === undefined || bias === null) return [];
  if (typeof bias !== 'object') throw new GemmaError('logitBias must be an object or a Map of token id → bias');
  const entries = bias instanceof Map ? [...bias.entries()] : Object.entries(bias).map(([k, v]) => [Number(k), v] as [number, number]);
  return entries;
}

/** Fills in defaults and checks every option (GemmaError naming the option otherwise). */
export function resolveSampling(o: SamplingOptions = {}, vocabSize?: number): ResolvedSampling {
  const r = { ...SAMPLING_DEFAULTS };
  for (const key of Object.keys(SAMPLING_DEFAULTS) as (keyof typeof SAMPLING_DEFAULTS)[]) {
    const v = o[key];
    if (v === undefined) continue;
    check(typeof v === 'number' && Number.isFinite(v), `${key} must be a finite number, got ${String(v)}`);
    r[key] = v;
  }
  check(r.temperature >= 0, `temperature must be ≥ 0, got ${r.temperature}`);
  check(Number.isInteger(r.topK) && r.topK >= 0, `topK must be a non-negative integer, got ${r.topK}`);
  for (const key of ['topP', 'minP', 'typicalP'] as const) check(r[key] >= 0 && r[key] <= 1, `${key} must be in [0, 1], got ${r[key]}`);
  check(r.repeatPenalty > 0, `repeatPenalty must be > 0, got ${r.repeatPenalty}`);
  check(Number.isInteger(r.repeatLastN) && r.repeatLastN >= -1, `repeatLastN must be an integer ≥ -1, got ${r.repeatLastN}`);
  const seen = new Map<number, number>();
  for (const [id, b] of biasEntries(o.logitBias)) {
    check(Number.isInteger(id) && id >= 0 && (vocabSize === undefined || id < vocabSize),
      `logitBias: token id ${String(id)} is outside the vocabulary${vocabSize === undefined ? '' : ` (0..${vocabSize - 1})`}`);
    check(typeof b === 'number' && !Number.isNaN(b) && b !== Infinity, `logitBias: the bias of token ${id} must be a finite number or -Infinity, got ${String(b)}`);
    seen.set(id, (seen.get(id) ?? 0) + b);
  }
  return { ...r, logitBias: [...seen.entries()].sort((a, b) => a[0] - b[0]) };
}

export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

export interface Candidate { id: number; logit: number; p: number }

function byLogit(a: Candidate, b: Candidate): number {
  return b.logit - a.logit || a.id - b.id;
}

/** Probabilities of the candidates (sorted by logit, descending) at the given temperature. */
export function softmaxInPlace(c: Candidate[], temperature = 1): void {
  let max = -Infinity;
  for (const x of c) if (x.logit > max) max = x.logit;
  let sum = 0;
  for (const x of c) sum += (x.p = Math.exp((x.logit - max) / temperature));
  for (const x of c) x.p /= sum;
}

// ---- stages that change logits (on the full row, in place) ----

/** Adds each bias to its token's logit. */
export function applyLogitBias(logits: Float32Array, bias: readonly [number, number][]): void {
  for (const [id, b] of bias) logits[id] += b;
}

/** Token → occurrences among the last `lastN` entries of `history` (−1: all of it). */
export function penaltyCounts(history: readonly number[], lastN: number): Map<number, number> {
  const counts = new Map<number, number>();
  const from = lastN < 0 ? 0 : Math.max(0, history.length - lastN);
  for (let i = from; i < history.length; i++) counts.set(history[i], (counts.get(history[i]) ?? 0) + 1);
  return counts;
}

/**
 * llama.cpp's penalties: for a token seen `count` times in the window, a logit ≤ 0 is
 * multiplied by repeatPenalty and a positive one divided by it, then
 * `count · frequencyPenalty + presencePenalty` is subtracted.
 */
export function applyPenalties(logits: Float32Array, counts: ReadonlyMap<number, number>,
  o: Pick<ResolvedSampling, 'repeatPenalty' | 'presencePenalty' | 'frequencyPenalty'>): void {
  for (const [id, count] of counts) {
    if (id < 0 || id >= logits.length) continue;
    let l = logits[id];
    l = l <= 0 ? l * o.repeatPenalty : l / o.repeatPenalty;
    logits[id] = l - count * o.frequencyPenalty - (count > 0 ? o.presencePenalty : 0);
  }
}

function penaltiesActive(o: ResolvedSampling): boolean {
  return o.repeatLastN !== 0 && (o.repeatPenalty !== 1 || o.presencePenalty !== 0 || o.frequencyPenalty !== 0);
}

// ---- stages that filter candidates ----

/** The k highest logits, sorted (descending; ties by id). k ≤ 0 or ≥ vocab: all of them, sorted. */
export function topK(logits: ArrayLike<number>, k: number): Candidate[] {
  const n = logits.length;
  if (k <= 0 || k >= n) return Array.from({ length: n }, (_, id) => ({ id, logit: logits[id], p: 0 })).sort(byLogit);
  // Insertion into a sorted buffer of k: no sort of 256000 entries.
  const heap: Candidate[] = [];
  for (let id = 0; id < n; id++) {
    const logit = logits[id];
    if (heap.length < k) {
      heap.push({ id, logit, p: 0 });
      if (heap.length === k) heap.sort(byLogit);
    } else if (logit > heap[k - 1].logit) {
      let i = k - 1;
      while (i > 0 && heap[i - 1].logit < logit) { heap[i] = heap[i - 1]; i--; }
      heap[i] = { id, logit, p: 0 };
    }
  }
  return heap;
}

/**
 * Locally typical sampling (Meister et al. 2022) as llama.cpp: with H the entropy of the
 * candidates, order them by |−log p − H| and keep the shortest prefix of that order whose
 * probability exceeds p (at least one). The result is re-sorted by logit.
 */
export function typicalP(c: Candidate[], p: number): Candidate[] {
  if (p >= 1 || c.length <= 1) return c;
  softmaxInPlace(c);
  let entropy = 0;
  for (const x of c) if (x.p > 0) entropy -= x.p * Math.log(x.p);
  const order = c.map((x) => ({ x, score: Math.abs(-Math.log(x.p) - entropy) }))
    .sort((a, b) => a.score - b.score || byLogit(a.x, b.x));
  let cum = 0, keep = order.length;
  for (let i = 0; i < order.length; i++) {
    cum += order[i].x.p;
    if (cum > p) { keep = i + 1; break; }
  }
  return order.slice(0, keep).map((o) => o.x).sort(byLogit);
}

/** Nucleus: the shortest prefix (by logit) whose probability reaches p. */
export function topP(c: Candidate[], p: number): Candidate[] {
  if (p >= 1) return c;
  softmaxInPlace(c);
  let cum = 0;
  for (let i = 0; i < c.length; i++) {
    cum += c[i].p;
    if (cum >= p) return c.slice(0, i + 1);
  }
  return c;
}

/** Keeps the tokens with p ≥ minP · p_max, i.e. logit ≥ max + ln(minP) (at least one). */
export function minP(c: Candidate[], p: number): Candidate[] {
  if (p <= 0 || c.length === 0) return c;
  const threshold = c[0].logit + Math.log(p);
  let i = 1;
  while (i < c.length && c[i].logit >= threshold) i++;
  return c.slice(0, i);
}

/** The candidates that survive top-k, typical-p, top-p and min-p, sorted by logit (descending). */
export function filterCandidates(logits: ArrayLike<number>, o: Omit<ResolvedSampling, 'logitBias'> | typeof SAMPLING_DEFAULTS): Candidate[] {
  let c: Candidate[];
  if ((o.topK <= 0 || o.topK >= logits.length) && o.typicalP >= 1 && o.minP > 0) {
    // No top-k: min-p's threshold (relative to the top token, which top-p always keeps) bounds
    // the survivors, so only those need sorting; top-p still normalises over every token.
    const max = logits[argmax(logits)];
    const threshold = max + Math.log(o.minP);
    let sum = 0;
    c = [];
    for (let id = 0; id < logits.length; id++) {
      sum += Math.exp(logits[id] - max);
      if (logits[id] >= threshold) c.push({ id, logit: logits[id], p: 0 });
    }
    c.sort(byLogit);
    if (o.topP < 1) {
      let cum = 0;
      for (let i = 0; i < c.length; i++) {
        cum += Math.exp(c[i].logit - max) / sum;
        if (cum >= o.topP) { c = c.slice(0, i + 1); break; }
      }
    }
    return c;
  }
  c = topK(logits, o.topK);
  c = typicalP(c, o.typicalP);
  c = topP(c, o.topP);
  c = minP(c, o.minP);
  return c;
}

/** Draws one candidate with probability softmax(logit / temperature). */
export function draw(c: Candidate[], temperature: number, rng: Rng): number {
  softmaxInPlace(c, temperature);
  let r = rng.next();
  for (const x of c) {
    r -= x.p;
    if (r < 0) return x.id;
  }
  return c[c.length - 1].id;
}

/** Draws from softmax(logits / temperature) over the whole vocabulary without sorting it. */
function drawFull(logits: ArrayLike<number>, temperature: number, rng: Rng): number {
  const max = logits[argmax(logits)];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp((logits[i] - max) / temperature);
  let r = rng.next() * sum;
  for (let i = 0; i < logits.length; i++) {
    r -= Math.exp((logits[i] - max) / temperature);
    if (r < 0) return i;
  }
  return argmax(logits);
}

/**
 * Samples one token. `history` is the sequence so far (prompt and generated tokens), which the
 * penalties look at. `logits` is not modified.
 */
export function sample(logits: Float32Array, options: SamplingOptions | ResolvedSampling, rng: Rng, history: readonly number[] = []): number {
  const o = isResolved(options) ? options : resolveSampling(options, logits.length);
  let row = logits;
  if (o.logitBias.length > 0 || penaltiesActive(o)) {
    row = Float32Array.from(logits);
    applyLogitBias(row, o.logitBias);
    if (penaltiesActive(o)) applyPenalties(row, penaltyCounts(history, o.repeatLastN), o);
  }
  if (o.typicalP >= 1 && (o.temperature <= 0 || o.topK === 1)) return argmax(row);
  if ((o.topK <= 0 || o.topK >= row.length) && o.topP >= 1 && o.minP <= 0 && o.typicalP >= 1) return drawFull(row, o.temperature, rng);
  const c = filterCandidates(row, o);
  if (o.temperature <= 0) return c[0].id; // sorted by logit: the best survivor
  return draw(c, o.temperature, rng);
}

function isResolved(o: SamplingOptions | ResolvedSampling): o is ResolvedSampling {
  return Array.isArray((o as ResolvedSampling).logitBias) && typeof (o as ResolvedSampling).typicalP === 'number';
}

/** log-softmax of one row at temperature 1 (float64 accumulation). */
export function logSoftmaxNormalizer(logits: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  return max + Math.log(sum);
}

/** The n highest entries (id, logit), descending, ties by lower id. */
export function topEntries(logits: ArrayLike<number>, n: number): { id: number; logit: number }[] {
  return n <= 0 ? [] : topK(logits, Math.min(n, logits.length)).slice(0, n).map(({ id, logit }) => ({ id, logit }));
}
