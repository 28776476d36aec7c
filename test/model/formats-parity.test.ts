/**
 * The same weights through every container and float dtype give the same logits:
 * HF folder (single and sharded), GGUF (norms stored as 1 + w), F32 / F16 / BF16.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { f32ToBf16, bf16ToF32, f32ToF16, f16ToF32 } from '../../src/formats/dtype.js';
import { GgmlType } from '../../src/formats/ggml-types.js';
import { writeGemmaGguf, writeGemmaHf } from '../../src/model/export.js';
import { loadGoldens, maxAbsDiff, TINY_MQA } from '../helpers/goldens.js';
import { loadRef } from '../helpers/load.js';
import { readWeights } from '../helpers/read-weights.js';
import { tmpDir } from '../helpers/tiny-models.js';
import type { TensorSpec } from '../../src/model/tensor-names.js';

const goldens = loadGoldens();
const g = goldens[1];

async function logitsOf(source: string): Promise<Float32Array> {
  const { session } = await loadRef(source);
  return session().eval(g.ids, { allLogits: true });
}

function rounded(w: (s: TensorSpec) => Float32Array, round: (x: number) => number, norms: boolean): (s: TensorSpec) => Float32Array {
  return (s) => (s.isNorm && !norms ? w(s) : w(s).map(round));
}

describe('containers and dtypes', async () => {
  const { config, weights } = await readWeights(TINY_MQA);
  const dir = tmpDir();

  it('GGUF F32 (norms stored as 1 + w) equals the HF goldens', async () => {
    const file = path.join(dir, 'f32.gguf');
    await writeGemmaGguf(file, config, weights, { type: GgmlType.F32 });
    expect(maxAbsDiff(await logitsOf(file), g.logits)).toBeLessThan(1e-3);
  });

  it('sharded HF folder equals the single-file folder', async () => {
    const sharded = path.join(dir, 'sharded');
    await writeGemmaHf(sharded, config, weights, { shardBytes: 100_000 });
    expect(maxAbsDiff(await logitsOf(sharded), g.logits)).toBeLessThan(1e-3);
  });

  it.each([
    ['F16', GgmlType.F16, (x: number) => f16ToF32(f32ToF16(x))],
    ['BF16', GgmlType.BF16, (x: number) => bf16ToF32(f32ToBf16(x))],
  ] as const)('%s: GGUF, HF safetensors and float32 copies of the rounded weights agree', async (name, type, round) => {
    const gguf = path.join(dir, `${name}.gguf`);
    const hf = path.join(dir, `hf-${name}`);
    const hf32 = path.join(dir, `hf-${name}-as-f32`);
    const hf32norms = path.join(dir, `hf-${name}-as-f32-norms-rounded`);
    await writeGemmaGguf(gguf, config, weights, { type });
    await writeGemmaHf(hf, config, weights, { type });
    // GGUF keeps norms in F32 (as llama.cpp's converter does); an HF BF16/F16 folder rounds them too.
    await writeGemmaHf(hf32, config, rounded(weights, round, false), { type: GgmlType.F32 });
    await writeGemmaHf(hf32norms, config, rounded(weights, round, true), { type: GgmlType.F32 });
    const exact = await logitsOf(hf32);
    expect(maxAbsDiff(await logitsOf(gguf), exact)).toBeLessThan(1e-5);
    expect(maxAbsDiff(await logitsOf(hf), await logitsOf(hf32norms))).toBeLessThan(1e-5);
    // Rounding the weights moves the logits only a little from the float32 reference.
    expect(maxAbsDiff(exact, g.logits)).toBeLessThan(type === GgmlType.F16 ? 0.02 : 0.15);
  });
});
