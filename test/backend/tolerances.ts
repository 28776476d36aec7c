/**
 * Normalised error ‖cpu − ref‖₂ / ‖ref‖₂ allowed between the CPU backend and the reference
 * backend, per op and weight type: the one place these numbers are stated.
 *
 * - 0: the kernel does the reference's arithmetic in the same order (copies, add, embed,
 *   RMSNorm with its float64 sum, RoPE in float64 from the same angles).
 * - Float matmuls (F32, F16, BF16, and batches of FLOAT_GEMM_MIN_ROWS or more of the block
 *   types, except Q4_0 and Q4_K with relaxed SIMD and Q8_0, which stay integer: CpuBackend.matmulPath) accumulate in float32 where the reference uses float64: ~1e-7 relative per product.
 * - GELU uses a float32 exp (~1 ulp) in v / (1 + e^(−2z)); attention accumulates in float32.
 * - Block-quantized weights in small batches quantize the activations to Q8_0 blocks (as
 *   llama.cpp does): a rounding error of up to d/2 per element, d = max|x|/127 per block of
 *   32: ≈ 0.5% of a result for Gaussian activations (measured 0.004–0.007; 0.012 on an
 *   output of only 6 values).
 * - End to end (tiny random Gemma, logits): float files stay near float32 rounding (measured
 *   6e-7, and so do prompts of every type on the float path); quantized files decoding token by
 *   token, in small chunks, or Q4_0 prompts (integer path) compound the activation quantization of every matmul of every
 *   layer (measured 0.020–0.028, in line with llama.cpp moving 2B logits by ~4% of their spread).
 */
import { GgmlType } from '../../src/formats/ggml-types.js';

export const OP_TOLERANCE = {
  copy: 0,
  add: 0,
  embed: 0,
  rmsNorm: 0,
  rope: 0,
  geluMul: 1e-6,
  attention: 1e-5,
} as const;

export const MATMUL_TOLERANCE: Partial<Record<GgmlType, number>> = {
  [GgmlType.F32]: 1e-6,
  [GgmlType.F16]: 1e-6,
  [GgmlType.BF16]: 1e-6,
  [GgmlType.Q8_0]: 0.02,
  [GgmlType.Q4_0]: 0.02,
  [GgmlType.Q4_1]: 0.02,
  [GgmlType.Q5_0]: 0.02,
  [GgmlType.Q5_1]: 0.02,
  [GgmlType.Q4_K]: 0.02,
  [GgmlType.Q5_K]: 0.02,
  [GgmlType.Q6_K]: 0.02,
};

/**
 * Batches that take the float path (CpuBackend.matmulPath; weight rows decoded to float32,
 * float32 activations): float32 accumulation error only.
 */
export const BATCH_MATMUL_TOLERANCE = 1e-6;

export const MODEL_TOLERANCE: Partial<Record<GgmlType, number>> = {
  [GgmlType.F32]: 1e-5,
  [GgmlType.F16]: 1e-5,
  [GgmlType.Q8_0]: 0.05,
  [GgmlType.Q4_0]: 0.05,
  [GgmlType.Q4_K]: 0.05,
  [GgmlType.Q6_K]: 0.05,
  [GgmlType.Q5_K]: 0.05,
};
