/**
 * Token sampling from a row of logits. The stage order follows llama.cpp's default chain
 * (common/sampling.cpp): top-k → top-p → min-p → temperature → draw, where top-p and min-p
 * look at probabilities at temperature 1. temperature ≤ 0 means greedy (argmax, lowest id on ties).
 */
import { Rng } from './rng.js';

export interface SamplingOptions {
  /** 0 = greedy. Default 0.8 (llama.cpp). */
  temperature?: number;
  /** 0 = off. Default 40 (llama.cpp). */
  topK?: number;
  /** 1 = off. Default 0.95 (llama.cpp). */
  topP?: number;
  /** 0 = off. Default 0.05 (llama.cpp). */
  minP?: number;
}

export const SAMPLING_DEFAULTS: Required<SamplingOptions> = { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05 };

export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

interface Candidate { id: number; logit: number; p: number }

function softmaxInPlace(c: Candidate[], temperature: number): void {
  const max = c[0].logit;
  let sum = 0;
  for (const x of c) sum += (x.p = Math.exp((x.logit - max) / temperature));
  for (const x of c) x.p /= sum;
}

/** The candidates that survive top-k, top-p and min-p, sorted by logit (descending). */
export function filterCandidates(logits: Float32Array, o: Required<SamplingOptions>): Candidate[] {
  const k = o.topK > 0 ? Math.min(o.topK, logits.length) : logits.length;
  let c: Candidate[];
  if (k < logits.length) {
    // Partial selection: keep the k largest without sorting 256000 entries.
    const heap: Candidate[] = [];
    for (let id = 0; id < logits.length; id++) {
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
    c = heap.length < k ? heap.sort(byLogit) : heap;
  } else {
    c = Array.from(logits, (logit, id) => ({ id, logit, p: 0 })).sort(byLogit);
  }
  softmaxInPlace(c, 1);
  if (o.topP < 1) {
    let cum = 0, keep = c.length;
    for (let i = 0; i < c.length; i++) {
      cum += c[i].p;
      if (cum >= o.topP) { keep = i + 1; break; }
    }
    c = c.slice(0, keep);
  }
  if (o.minP > 0) {
    const threshold = c[0].p * o.minP;
    const keep = c.filter((x) => x.p >= threshold);
    c = keep.length > 0 ? keep : c.slice(0, 1);
  }
  return c;
}

function byLogit(a: Candidate, b: Candidate): number {
  return b.logit - a.logit || a.id - b.id;
}

export function sample(logits: Float32Array, options: SamplingOptions, rng: Rng): number {
  const o = { ...SAMPLING_DEFAULTS, ...options };
  if (o.temperature <= 0 || o.topK === 1) return argmax(logits);
  if ((o.topK <= 0 || o.topK >= logits.length) && o.topP >= 1 && o.minP <= 0) return sampleFull(logits, o.temperature, rng);
  const c = filterCandidates(logits, o);
  softmaxInPlace(c, o.temperature);
  let r = rng.next();
  for (const x of c) {
    r -= x.p;
    if (r < 0) return x.id;
  }
  return c[c.length - 1].id;
}

/** Draws from softmax(logits / temperature) over the whole vocabulary without sorting it. */
function sampleFull(logits: Float32Array, temperature: number, rng: Rng): number {
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
