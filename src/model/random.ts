/**
 * Random Gemma weights for demos, tests and benchmarks (real weights are licence-gated and
 * cannot be downloaded by our scripts). Scales follow what makes a useful test model: with
 * tied embeddings a large embedding makes the model echo its input forever, so embeddings are
 * smaller than matrices, and the final norm is scaled up to sharpen the logits.
 * Each tensor is generated from its own seed, lazily, so full-size (2B) weights can be
 * streamed to disk one tensor at a time.
 */
import { Rng } from '../sampling/rng.js';
import type { GemmaConfig } from './config.js';
import { gemmaTensorSpecs, type TensorSpec } from './tensor-names.js';

export interface RandomWeightOptions {
  seed?: number;
  /** Std of the projection matrices (default 0.08: tiny models; use 0.02 at 2B shape). */
  matrixStd?: number;
  /** Std of the embedding (default 0.02; 0.01 at 2B shape). */
  embedStd?: number;
  /** Std of the norm weights w (the model multiplies by 1 + w). */
  normStd?: number;
  /** The final norm computes (1 + w) · this. */
  finalNormScale?: number;
}

/** Standard normal samples by the Box–Muller transform. */
export function fillGaussian(out: Float32Array, rng: Rng, std: number): void {
  for (let i = 0; i < out.length; i += 2) {
    const u1 = 1 - rng.next(), u2 = rng.next();
    const r = Math.sqrt(-2 * Math.log(u1)) * std;
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
}

function nameSeed(seed: number, name: string): number {
  let h = seed >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * One tensor's values in Hugging Face convention (norms hold w, the model uses 1 + w).
 */
export function randomTensor(spec: TensorSpec, o: RandomWeightOptions = {}): Float32Array {
  const rng = new Rng(nameSeed(o.seed ?? 0, spec.name));
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  if (spec.isNorm) {
    fillGaussian(out, rng, o.normStd ?? 0.1);
    if (spec.name === 'output_norm.weight') {
      const s = o.finalNormScale ?? 8;
      for (let i = 0; i < n; i++) out[i] = (1 + out[i]) * s - 1;
    }
  } else {
    fillGaussian(out, rng, spec.name === 'token_embd.weight' ? (o.embedStd ?? 0.02) : (o.matrixStd ?? 0.08));
  }
  return out;
}

/** All tensors of a random Gemma, in canonical order, generated on demand. */
export function* randomGemmaTensors(config: GemmaConfig, o: RandomWeightOptions = {}): Generator<{ spec: TensorSpec; data: Float32Array }> {
  for (const spec of gemmaTensorSpecs(config)) yield { spec, data: randomTensor(spec, o) };
}
