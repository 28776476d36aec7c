/**
 * Differential tests against llama.cpp (node-llama-cpp) on F32 GGUF files this test writes.
 * Greedy tokens must agree up to the first step where llama.cpp's own top-2 margin is below
 * 0.01 (there, float rounding order legitimately decides the winner); logits must agree up to
 * a per-row constant (llama.cpp reports probabilities; its float32 normaliser is off by ~1e-3).
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { argmax } from '../../src/sampling/sampler.js';
import { GgmlType } from '../../src/formats/ggml-types.js';
import { loadRef } from '../helpers/load.js';
import { llamaGreedy, llamaTeacherForced, maxDiffUpToOffset } from '../helpers/llama-oracle.js';
import { randomWeights, tinyConfig, tmpDir, writeTinyGguf } from '../helpers/tiny-models.js';
import type { GemmaConfig } from '../../src/model/config.js';

const MARGIN = 0.01;
// llama.cpp computes GELU from an fp16 table and normalises probabilities in float32.
const LOGIT_TOL = 1e-2;

const CONFIGS: [string, GemmaConfig][] = [
  ['MQA (2B-like)', tinyConfig()],
  ['MHA, heads·headDim ≠ hidden (7B-like)', tinyConfig({ numHeads: 4, numKvHeads: 4, headDim: 32, hiddenSize: 96, numLayers: 3 })],
  ['GQA, 8 heads over 2 KV heads', tinyConfig({ numHeads: 8, numKvHeads: 2, headDim: 16, hiddenSize: 64, intermediateSize: 96 })],
];

describe.each(CONFIGS)('llama.cpp agrees: %s', (_name, config) => {
  const dir = tmpDir();
  const file = path.join(dir, 'tiny-f32.gguf');
  const weights = randomWeights(config, { seed: 7 });
  const prompt = [2, 17, 300, 41, 99, 260, 5, 77];

  it('greedy tokens match up to the first small llama.cpp margin', async () => {
    await writeTinyGguf(file, config, weights, GgmlType.F32);
    const steps = 32;
    const ref = await llamaGreedy(file, prompt, steps, config.vocabSize);
    const { session } = await loadRef(file);
    const s = session();
    let logits = await s.eval(prompt);
    let compared = 0;
    for (let k = 0; k < steps; k++) {
      expect(maxDiffUpToOffset(logits, ref.logprobs[k])).toBeLessThan(LOGIT_TOL);
      if (ref.margins[k] < MARGIN) break;
      expect(argmax(logits)).toBe(ref.tokens[k]);
      compared++;
      logits = await s.eval([ref.tokens[k]]);
    }
    expect(compared).toBeGreaterThan(4);
  });

  it('teacher-forced logits match at every position', async () => {
    const ids = [2, ...Array.from({ length: 40 }, (_, i) => (i * 37 + 11) % config.vocabSize)];
    const ref = await llamaTeacherForced(file, ids, config.vocabSize);
    const { session } = await loadRef(file);
    const ours = await session().eval(ids, { allLogits: true });
    const V = config.vocabSize;
    for (let t = 0; t < ids.length; t++) {
      expect(maxDiffUpToOffset(ours.subarray(t * V, (t + 1) * V), ref[t])).toBeLessThan(LOGIT_TOL);
    }
  });
});

describe('llama.cpp agrees on BF16 and F16 weights', () => {
  const config = tinyConfig({ numHeads: 8, numKvHeads: 2, headDim: 16, hiddenSize: 64, intermediateSize: 96 });
  const weights = randomWeights(config, { seed: 21 });
  const ids = [2, ...Array.from({ length: 30 }, (_, i) => (i * 53 + 7) % config.vocabSize)];

  it.each([['BF16', GgmlType.BF16], ['F16', GgmlType.F16]] as const)('%s: teacher-forced logits and top-1', async (name, type) => {
    const file = path.join(tmpDir(), `tiny-${name}.gguf`);
    await writeTinyGguf(file, config, weights, type);
    const ref = await llamaTeacherForced(file, ids, config.vocabSize);
    const { session } = await loadRef(file);
    const ours = await session().eval(ids, { allLogits: true });
    const V = config.vocabSize;
    let worst = 0;
    for (let t = 0; t < ids.length; t++) {
      const row = ours.subarray(t * V, (t + 1) * V);
      worst = Math.max(worst, maxDiffUpToOffset(row, ref[t]));
    }
    // llama.cpp rounds the activations to the weight type (bf16: 8 mantissa bits) before its
    // dot products; we keep them in float32, so BF16 differs more than F16.
    expect(worst).toBeLessThan(type === GgmlType.BF16 ? 0.05 : 0.01);
    console.log(`${name}: max |Δlogit| up to a row constant vs llama.cpp: ${worst.toFixed(4)}`);
  });
});
