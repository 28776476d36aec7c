/**
 * End to end: tiny random Gemmas written in every storable quantized type must load in
 * llama.cpp (node-llama-cpp) and give the same logits as our reference backend on the same
 * file, up to llama.cpp's own rounding: it quantizes the activations to 8 bits (Q8_0 / Q8_1 /
 * Q8_K blocks) for its integer dot products, which moves logits by a few percent of their
 * spread, so the comparison is statistical (mean |Δlogit| after removing each row's constant
 * offset, and top-1 agreement). Against ourselves it is exact: the quantized file and an F32
 * file holding dequantize(quantize(w)) must give the same logits.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GgmlType } from '../../src/formats/ggml-types.js';
import { dequantize, QUANT_FORMATS, quantize } from '../../src/quant/index.js';
import { openCheckpoint } from '../../src/model/checkpoint.js';
import { gemmaTensorSpecs, type TensorSpec } from '../../src/model/tensor-names.js';
import { argmax } from '../../src/sampling/sampler.js';
import { loadRef } from '../helpers/load.js';
import { llamaTeacherForced, meanAbsDiffUpToOffset } from '../helpers/llama-oracle.js';
import { randomWeights, tinyConfig, tmpDir, writeTinyGguf } from '../helpers/tiny-models.js';


// Hidden size a multiple of 256 so every K-quant row is whole super-blocks.
const config = tinyConfig({ hiddenSize: 256, intermediateSize: 512, numHeads: 2, numKvHeads: 1, headDim: 128, vocabSize: 512 });
const weights = randomWeights(config, { seed: 11 });
const ids = [2, ...Array.from({ length: 40 }, (_, i) => (i * 37 + 11) % config.vocabSize)];
const V = config.vocabSize;
const MEAN_TOL = 0.2;
const TOP1_MIN = 0.85;
const types = [...QUANT_FORMATS.values()].filter((f) => f.storable);

describe.each(types.map((f) => [f.name, f.type] as const))('%s file', (name, type) => {
  const dir = tmpDir('gemma-quant-');
  const file = path.join(dir, `tiny-${name}.gguf`);
  let ours: Float32Array;

  it('our reference backend matches llama.cpp', async () => {
    await writeTinyGguf(file, config, weights, type);
    const ref = await llamaTeacherForced(file, ids, V);
    const { session } = await loadRef(file);
    ours = await session().eval(ids, { allLogits: true });
    let mean = 0, agree = 0;
    for (let t = 0; t < ids.length; t++) {
      const row = ours.subarray(t * V, (t + 1) * V);
      mean += meanAbsDiffUpToOffset(row, ref[t]!) / ids.length;
      if (argmax(row) === argmax(ref[t]!)) agree++;
    }
    expect(mean).toBeLessThanOrEqual(MEAN_TOL);
    expect(agree / ids.length).toBeGreaterThanOrEqual(TOP1_MIN);
  });

  it('equals an F32 file of the dequantized weights', async () => {
    // The file holds quantize(w) (checked on one tensor; quantizing everything again is slow).
    const ckpt = await openCheckpoint(file);
    const stored = new Map<string, Uint8Array>();
    for (const spec of gemmaTensorSpecs(config)) if (!spec.isNorm) stored.set(spec.name, (await ckpt.tensors.get(spec.name)!.read()).slice());
    await ckpt.close();
    const k = gemmaTensorSpecs(config).find((spec) => spec.name === 'blk.1.attn_k.weight')!;
    const kq = quantize(type, weights(k));
    expect(stored.get(k.name)!.every((v, i) => v === kq[i])).toBe(true);
    const roundTripped = (spec: TensorSpec): Float32Array => {
      const w = weights(spec);
      if (spec.isNorm) return w;
      const out = new Float32Array(w.length);
      dequantize(type, stored.get(spec.name)!, 0, w.length, out);
      return out;
    };
    const f32File = path.join(dir, `tiny-${name}-dequantized-f32.gguf`);
    await writeTinyGguf(f32File, config, roundTripped, GgmlType.F32);
    const { session } = await loadRef(f32File);
    const expected = await session().eval(ids, { allLogits: true });
    let max = 0;
    for (let i = 0; i < expected.length; i++) max = Math.max(max, Math.abs(expected[i]! - ours[i]!));
    expect(max).toBeLessThanOrEqual(1e-5);
  });
});
