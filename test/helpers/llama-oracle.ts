/**
 * llama.cpp (through node-llama-cpp) as an outside oracle. It exposes probabilities, not
 * logits: with temperature 0 its chain is plain greedy over the whole vocabulary, so
 * log(p) = logit − logsumexp(logits); compare logits up to a per-row constant.
 * KV cache in F32 and no flash attention bring it closest to a float32 engine.
 */
import { getLlama, type Llama } from 'node-llama-cpp';

let llamaPromise: Promise<Llama> | undefined;

export function llama(): Promise<Llama> {
  llamaPromise ??= getLlama({ gpu: false, build: 'never', skipDownload: true, maxThreads: 0, logLevel: 'error' as never });
  return llamaPromise;
}

export interface OracleRun {
  /** Per teacher-forced position: log-probabilities over the vocabulary (NaN-free; −Infinity where p = 0). */
  logprobs: Float32Array[];
}

async function withContext<T>(file: string, contextSize: number, fn: (seq: import('node-llama-cpp').LlamaContextSequence) => Promise<T>): Promise<T> {
  const l = await llama();
  const model = await l.loadModel({ modelPath: file, gpuLayers: 0 });
  const context = await model.createContext({
    contextSize, batchSize: Math.min(contextSize, 512), sequences: 1, flashAttention: false,
    experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32', threads: 2,
  });
  try {
    return await fn(context.getSequence());
  } finally {
    await context.dispose();
    await model.dispose();
  }
}

function toLogprobs(p: Map<number, number>, vocab: number): Float32Array {
  const out = new Float32Array(vocab).fill(-Infinity);
  for (const [id, prob] of p) if (id < vocab) out[id] = Math.log(prob);
  return out;
}

/** Log-probabilities after each of `ids` (teacher forcing), for the positions in `want` (default all). */
export async function llamaTeacherForced(file: string, ids: number[], vocab: number, contextSize = 512, want?: Set<number>): Promise<Float32Array[]> {
  return withContext(file, contextSize, async (seq) => {
    const input = ids.map((id, i) => (want && !want.has(i) ? id : ([id, { generateNext: { probabilities: true } }] as const)));
    const res = await seq.controlledEvaluate(input as never);
    const out: Float32Array[] = [];
    for (let i = 0; i < ids.length; i++) {
      const p = res[i]?.next?.probabilities;
      if (p) out.push(toLogprobs(p, vocab));
    }
    return out;
  });
}

/** llama.cpp's own greedy continuation with the top-1/top-2 log-prob margin at each step. */
export async function llamaGreedy(file: string, prompt: number[], steps: number, vocab: number, contextSize = 512): Promise<{ tokens: number[]; margins: number[]; logprobs: Float32Array[] }> {
  return withContext(file, contextSize, async (seq) => {
    const tokens: number[] = [], margins: number[] = [], logprobs: Float32Array[] = [];
    let input: unknown[] = prompt.map((id, i) => (i === prompt.length - 1 ? [id, { generateNext: { probabilities: true } }] : id));
    for (let s = 0; s < steps; s++) {
      const res = await seq.controlledEvaluate(input as never);
      const lp = toLogprobs(res[input.length - 1]!.next!.probabilities!, vocab);
      let a = 0, b = -1;
      for (let i = 1; i < vocab; i++) {
        if (lp[i] > lp[a]) { b = a; a = i; } else if (b < 0 || lp[i] > lp[b]) b = i;
      }
      tokens.push(a);
      margins.push(lp[a] - lp[b]);
      logprobs.push(lp);
      input = [[a, { generateNext: { probabilities: true } }]];
    }
    return { tokens, margins, logprobs };
  });
}

/** max over the row of |(a − mean(a − b)) − b|: the largest difference after removing a constant offset. */
export function maxDiffUpToOffset(a: Float32Array, b: Float32Array): number {
  let mean = 0, n = 0;
  for (let i = 0; i < a.length; i++) if (Number.isFinite(b[i])) { mean += a[i] - b[i]; n++; }
  mean /= n;
  let m = 0;
  for (let i = 0; i < a.length; i++) if (Number.isFinite(b[i])) m = Math.max(m, Math.abs(a[i] - mean - b[i]));
  return m;
}

/** mean over the row of |(a − mean(a − b)) − b| (entries where b is −Infinity skipped): the mean difference after removing a constant offset. */
export function meanAbsDiffUpToOffset(a: Float32Array, b: Float32Array): number {
  let mean = 0, n = 0;
  for (let i = 0; i < a.length; i++) if (Number.isFinite(b[i])) { mean += a[i] - b[i]; n++; }
  mean /= n;
  let s = 0;
  for (let i = 0; i < a.length; i++) if (Number.isFinite(b[i])) s += Math.abs(a[i] - mean - b[i]);
  return s / n;
}
