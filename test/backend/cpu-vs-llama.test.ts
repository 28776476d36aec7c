/**
 * The fast CPU backend against llama.cpp (node-llama-cpp) directly, end to end: `loadModel`
 * (default backend, 2 threads) and llama.cpp read the very same GGUF file this test writes.
 * The rest of the suite checks CPU against the reference backend and the reference against
 * llama.cpp; this closes the triangle.
 *
 * - F32 / F16: greedy tokens equal for STEPS steps, up to the first step where llama.cpp's
 *   top-2 margin is below MARGIN (there, float rounding order legitimately decides the winner);
 *   max |Δlogit| after removing each row's constant offset (llama.cpp reports probabilities,
 *   normalised in float32) ≤ FLOAT_TOL, along the greedy path and teacher forced.
 *   Measured: 5e-3 – 8e-3 on both shapes and both types.
 * - Q8_0 / Q4_0: llama.cpp quantizes activations to 8-bit blocks for its integer dot products.
 *   The CPU backend does so too, at every batch size (Q4_0 with relaxed SIMD); as one prompt
 *   (its four-row GEMM kernels) and in chunks of 7, teacher forced:
 *   mean |Δlogit| (offset removed) ≤ QUANT_MEAN_TOL and top-1 agreement ≥ QUANT_TOP1_MIN.
 *   Measured: mean 0.043–0.044, top-1 93–97%, one prompt and chunks of 7 alike.
 *   For scale, Q4_0's own quantization error (CPU on the Q4_0 file against llama.cpp on the
 *   F32 file of the same weights) is mean |Δ| 0.88–1.09 with top-1 28–43%, asserted to be
 *   over 4× the gap between the engines: a CPU backend that decoded Q4_0 wrongly would fail.
 * - Q4_K / Q5_K / Q6_K (a model whose rows are multiples of 256), the same checks. llama.cpp's
 *   K-quant dot products quantize activations per 256 (Q8_K), more coarsely than per 32, so the
 *   engines differ more: measured mean 0.11–0.13, top-1 91–97% (their own quantization error
 *   against the F32 file: mean 0.30–1.17). One prompt takes the float path for Q5_K / Q6_K
 *   (batches of FLOAT_GEMM_MIN_ROWS rows or more) and Q4_K's four-row integer kernel.
 *
 * Shapes: every row length (hidden, ffn, heads·head_dim) is a multiple of 32, so Q8_0 and Q4_0
 * apply to every matrix, the tied embedding included. A vocabulary of 2048 makes top-1 a real
 * choice; matrices twice as large as the tiny-model default make the model move on instead
 * of echoing a token (greedy paths of ~20–30 distinct ids) and give logits a spread (row std
 * ≈ 2.3–2.6) far above the tolerances; both are asserted, so neither check passes vacuously.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/engine/model.js';
import { GgmlType, ggmlTypeName } from '../../src/formats/ggml-types.js';
import type { GemmaConfig } from '../../src/model/config.js';
import { argmax } from '../../src/sampling/sampler.js';
import { llamaGreedy, llamaTeacherForced, maxDiffUpToOffset, meanAbsDiffUpToOffset } from '../helpers/llama-oracle.js';
import { randomWeights, tinyConfig, tmpDir, writeTinyGguf } from '../helpers/tiny-models.js';
import { buildKernels } from './helpers.js';

const MARGIN = 0.01;
const FLOAT_TOL = 0.05;
const QUANT_MEAN_TOL = 0.2;
const QUANT_TOP1_MIN = 0.85;
const STEPS = 32;
/** Larger than any sequence here: node-llama-cpp silently shifts a context that fills up. */
const LLAMA_CTX = 512;
const CTX = 256;
const WEIGHTS = { seed: 7, matrixStd: 0.12, embedStd: 0.03 };
/** Rows twice as long sum twice as many terms: a smaller std keeps the logits' spread alike. */
const weightsFor = (name: string) => (name === KQ ? { ...WEIGHTS, matrixStd: 0.085 } : WEIGHTS);
/** A logit row's standard deviation must exceed this: the tolerances are small against it. */
const MIN_SPREAD = 1;

const MQA = 'MQA (2B-like)';
const GQA = 'GQA, heads·head_dim ≠ hidden (7B-like)';
const KQ = 'MQA, rows of 256 (K-quants)';
const CONFIGS: Record<string, GemmaConfig> = {
  [MQA]: tinyConfig({ vocabSize: 2048, hiddenSize: 128, intermediateSize: 256, numLayers: 2, numHeads: 4, numKvHeads: 1, headDim: 32 }),
  // 4 heads × 32 = 128 over hidden 96, 2 KV heads.
  [GQA]: tinyConfig({ vocabSize: 2048, hiddenSize: 96, intermediateSize: 192, numLayers: 3, numHeads: 4, numKvHeads: 2, headDim: 32 }),
  // K-quant blocks span 256 elements: every row length a multiple of 256.
  [KQ]: tinyConfig({ vocabSize: 2048, hiddenSize: 256, intermediateSize: 512, numLayers: 2, numHeads: 4, numKvHeads: 1, headDim: 64 }),
};

const prompt = [2, 17, 300, 41, 99, 1260, 5, 777];
const teacherIds = (V: number) => [2, ...Array.from({ length: 100 }, (_, i) => (i * 397 + 11) % V)];
const dir = tmpDir('gemma-cpu-llama-');
const models: Model[] = [];

beforeAll(buildKernels);
afterAll(async () => { for (const m of models) await m.dispose(); });

function fileFor(name: string, type: GgmlType, suffix = ''): string {
  return path.join(dir, `${name.replace(/\W+/g, '-')}-${ggmlTypeName(type)}${suffix}.gguf`);
}

/** Writes the model in `type` and loads that file on the default (CPU) backend with 2 threads. */
async function writeAndLoad(name: string, type: GgmlType): Promise<{ file: string; model: Model }> {
  const config = CONFIGS[name]!;
  const file = await writeTinyGguf(fileFor(name, type), config, randomWeights(config, weightsFor(name)), type);
  const model = await loadModel(file, { threads: 2, contextLength: CTX });
  models.push(model);
  expect(model.backend.name).toBe('cpu');
  expect(model.backend.threads).toBe(2);
  return { file, model };
}

/** Standard deviation of a row and the gap between its two largest values. */
function spread(row: Float32Array): { std: number; margin: number } {
  let m = 0;
  for (const x of row) m += x;
  m /= row.length;
  let v = 0, a = -Infinity, b = -Infinity;
  for (const x of row) {
    v += (x - m) ** 2;
    if (x > a) { b = a; a = x; } else if (x > b) b = x;
  }
  return { std: Math.sqrt(v / row.length), margin: a - b };
}


/** Logits after every id, fed in chunks of `chunk` tokens through one session. */
async function teacherForced(model: Model, ids: number[], chunk: number): Promise<Float32Array[]> {
  const V = model.config.vocabSize;
  const s = model.createSession();
  const out: Float32Array[] = [];
  for (let i = 0; i < ids.length; i += chunk) {
    const all = await s.eval(ids.slice(i, i + chunk), { allLogits: true });
    for (let t = 0; t < all.length / V; t++) out.push(all.subarray(t * V, (t + 1) * V));
  }
  s.dispose();
  expect(out.length).toBe(ids.length);
  return out;
}

/** Mean |Δlogit| (offset removed), max |Δlogit| and top-1 agreement of our rows against llama.cpp's. */
function agreement(ours: Float32Array[], theirs: Float32Array[]): { mean: number; max: number; top1: number } {
  let mean = 0, max = 0, agree = 0;
  for (let t = 0; t < theirs.length; t++) {
    mean += meanAbsDiffUpToOffset(ours[t]!, theirs[t]!) / theirs.length;
    max = Math.max(max, maxDiffUpToOffset(ours[t]!, theirs[t]!));
    if (argmax(ours[t]!) === argmax(theirs[t]!)) agree++;
  }
  return { mean, max, top1: agree / theirs.length };
}

const withNames = (list: [string, GgmlType][]) => list.map(([n, t]) => [n, ggmlTypeName(t), t] as const);

describe.each(withNames([[MQA, GgmlType.F32], [GQA, GgmlType.F32], [MQA, GgmlType.F16], [GQA, GgmlType.F16]]))(
  'CPU backend vs llama.cpp, %s, %s', (name, typeName, type) => {
    const V = CONFIGS[name]!.vocabSize;
    let file: string, model: Model;
    beforeAll(async () => ({ file, model } = await writeAndLoad(name, type)));

    it('greedy tokens equal up to the first small llama.cpp margin; logits along the path', async () => {
      const ref = await llamaGreedy(file, prompt, STEPS, V, LLAMA_CTX);
      const s = model.createSession();
      let logits = await s.eval(prompt);
      let compared = 0, worst = 0;
      for (let k = 0; k < STEPS; k++) {
        worst = Math.max(worst, maxDiffUpToOffset(logits, ref.logprobs[k]!));
        if (ref.margins[k]! < MARGIN) break;
        expect(argmax(logits), `${typeName} greedy step ${k}`).toBe(ref.tokens[k]);
        compared++;
        logits = await s.eval([ref.tokens[k]!]);
      }
      s.dispose();
      const distinct = new Set(ref.tokens.slice(0, compared)).size;
      const minStd = Math.min(...ref.logprobs.slice(0, compared + 1).map((r) => spread(r).std));
      const figures = `${name} ${typeName}: ${compared}/${STEPS} greedy steps equal, ${distinct} distinct ids, ` +
        `max |Δlogit| ${worst.toExponential(2)}, min logit row std ${minStd.toFixed(2)}`;
      console.log(figures);
      // Measured: 23–32 steps before a margin below 0.01, 19–31 distinct ids, max |Δ| 5e-3 – 7e-3.
      expect(compared, figures).toBeGreaterThanOrEqual(16);
      expect(distinct, figures).toBeGreaterThanOrEqual(8);
      expect(minStd, figures).toBeGreaterThan(MIN_SPREAD);
      expect(worst, figures).toBeLessThanOrEqual(FLOAT_TOL);
    });

    it('teacher-forced logits, as one prompt and in chunks of 7', async () => {
      const ids = teacherIds(V);
      const theirs = await llamaTeacherForced(file, ids, V, LLAMA_CTX);
      expect(theirs.length).toBe(ids.length);
      for (const chunk of [ids.length, 7]) {
        const a = agreement(await teacherForced(model, ids, chunk), theirs);
        const figures = `${name} ${typeName}, chunks of ${chunk}: max |Δlogit| ${a.max.toExponential(2)}, top-1 ${(100 * a.top1).toFixed(1)}%`;
        console.log(figures);
        // Measured: max |Δ| 6.7e-3 – 7.6e-3, top-1 100%.
        expect(a.max, figures).toBeLessThanOrEqual(FLOAT_TOL);
      }
    });
  });

describe.each(withNames([[MQA, GgmlType.Q8_0], [MQA, GgmlType.Q4_0], [GQA, GgmlType.Q8_0], [GQA, GgmlType.Q4_0],
  [KQ, GgmlType.Q4_K], [KQ, GgmlType.Q5_K], [KQ, GgmlType.Q6_K]]))(
  'CPU backend vs llama.cpp, %s, %s', (name, typeName, type) => {
    it('teacher-forced logits agree statistically, as one prompt and in chunks of 7', async () => {
      const config = CONFIGS[name]!;
      const V = config.vocabSize;
      const { file, model } = await writeAndLoad(name, type);
      const ids = teacherIds(V);
      const theirs = await llamaTeacherForced(file, ids, V, LLAMA_CTX);
      expect(theirs.length).toBe(ids.length);

      // The comparison means something only if the logits spread widely and top-1 varies.
      const rows = theirs.map(spread);
      const minStd = Math.min(...rows.map((r) => r.std));
      const medianMargin = rows.map((r) => r.margin).sort((a, b) => a - b)[rows.length >> 1]!;
      const distinctTop1 = new Set(theirs.map((r) => argmax(r))).size;
      const shape = `${name} ${typeName}: llama.cpp logit row std ≥ ${minStd.toFixed(2)}, median top-2 margin ${medianMargin.toFixed(3)}, ` +
        `${distinctTop1} distinct top-1 ids over ${ids.length} positions`;
      console.log(shape);
      expect(minStd, shape).toBeGreaterThan(MIN_SPREAD);
      expect(distinctTop1, shape).toBeGreaterThanOrEqual(ids.length / 2);

      // The scale of the quantization itself: llama.cpp on the F32 file of the same weights.
      const f32 = await writeTinyGguf(fileFor(name, GgmlType.F32, '-baseline'), config, randomWeights(config, weightsFor(name)), GgmlType.F32);
      const theirsF32 = await llamaTeacherForced(f32, ids, V, LLAMA_CTX);

      for (const chunk of [ids.length, 7]) {
        const ours = await teacherForced(model, ids, chunk);
        const a = agreement(ours, theirs);
        const q = agreement(ours, theirsF32);
        const figures = `${name} ${typeName}, chunks of ${chunk}: mean |Δlogit| ${a.mean.toFixed(4)}, max ${a.max.toFixed(3)}, ` +
          `top-1 ${(100 * a.top1).toFixed(1)}% (against llama.cpp on the F32 file: mean ${q.mean.toFixed(3)}, top-1 ${(100 * q.top1).toFixed(1)}%)`;
        console.log(figures);
        expect(a.mean, figures).toBeLessThanOrEqual(QUANT_MEAN_TOL);
        expect(a.top1, figures).toBeGreaterThanOrEqual(QUANT_TOP1_MIN);
        // Q4_0 moves logits far more than the two engines differ: the test tells them apart.
        if (type === GgmlType.Q4_0) expect(a.mean * 4, figures).toBeLessThan(q.mean);
      }
    });
  });
