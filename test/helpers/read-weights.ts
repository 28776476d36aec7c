import { bf16ArrayToF32, f16ArrayToF32 } from '../../src/formats/dtype.js';
import { GgmlType } from '../../src/formats/ggml-types.js';
import { openCheckpoint } from '../../src/model/checkpoint.js';
import { gemmaTensorSpecs, type TensorSpec } from '../../src/model/tensor-names.js';
import type { GemmaConfig } from '../../src/model/config.js';

/** Every tensor of a float checkpoint as float32, in HF convention (norms hold w). */
export async function readWeights(source: string): Promise<{ config: GemmaConfig; weights: (s: TensorSpec) => Float32Array }> {
  const ckpt = await openCheckpoint(source);
  const map = new Map<string, Float32Array>();
  try {
    for (const spec of gemmaTensorSpecs(ckpt.config)) {
      const t = ckpt.tensors.get(spec.name)!;
      const bytes = (await t.read()).slice();
      const n = bytes.byteLength / (t.type === GgmlType.F32 ? 4 : 2);
      let x = new Float32Array(n);
      if (t.type === GgmlType.F32) x = new Float32Array(bytes.buffer);
      else if (t.type === GgmlType.F16) f16ArrayToF32(new Uint16Array(bytes.buffer), x);
      else bf16ArrayToF32(new Uint16Array(bytes.buffer), x);
      if (spec.isNorm && ckpt.normsIncludeOne) x = x.map((v) => Math.fround(v - 1));
      map.set(spec.name, x);
    }
  } finally {
    await ckpt.close();
  }
  return { config: ckpt.config, weights: (s) => map.get(s.name)! };
}
