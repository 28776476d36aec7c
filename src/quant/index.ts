/**
 * GGUF quantized block formats: plain reference dequantizers and llama.cpp's reference
 * quantizers (the ones its quantizer uses without an importance matrix), bit-exact.
 * A leaf module: it depends only on the error type and the format tables.
 */
import { GemmaError } from '../errors.js';
import { GGML_TYPE_INFO, GgmlType, ggmlTypeName } from '../formats/ggml-types.js';
import type { BlockDequantizer, BlockQuantizer } from './common.js';
import {
  dequantizeQ4_0, dequantizeQ4_1, dequantizeQ5_0, dequantizeQ5_1, dequantizeQ8_0,
  quantizeQ4_0, quantizeQ4_1, quantizeQ5_0, quantizeQ5_1, quantizeQ8_0,
} from './legacy.js';
import { dequantizeQ2_K, dequantizeQ4_K, dequantizeQ5_K, quantizeQ2_K, quantizeQ4_K, quantizeQ5_K } from './k-min.js';
import { dequantizeQ3_K, dequantizeQ6_K, dequantizeQ8_K, quantizeQ3_K, quantizeQ6_K, quantizeQ8_K } from './k-signed.js';

export interface QuantFormat {
  readonly type: GgmlType;
  readonly name: string;
  /** Elements per block. */
  readonly blockSize: number;
  /** Bytes per block (the size of ggml's block struct). */
  readonly typeSize: number;
  /**
   * Bound on the normalised round-trip error ‖x − dequantize(quantize(x))‖₂ / ‖x‖₂ for i.i.d.
   * Gaussian x of any σ ≥ 1e-3 (smaller σ pushes the fp16 block scales into subnormals).
   * Measured values are 15–30% lower: Q8_0 0.0054, Q4_0 0.086, Q4_1 0.078, Q5_0 0.043,
   * Q5_1 0.038, Q2_K 0.30, Q3_K 0.151, Q4_K 0.071, Q5_K 0.037, Q6_K 0.018 (0.021 at σ = 1e-3),
   * Q8_K 0.007.
   */
  readonly errorBound: number;
  /** False for Q8_K: ggml uses it only for activations, so llama.cpp cannot run it as weights. */
  readonly storable: boolean;
  readonly dequantizeBlocks: BlockDequantizer;
  readonly quantizeBlocks: BlockQuantizer;
}

function format(type: GgmlType, errorBound: number, dequantizeBlocks: BlockDequantizer,
  quantizeBlocks: BlockQuantizer, storable = true): QuantFormat {
  const { name, blockSize, typeSize } = GGML_TYPE_INFO[type]!;
  return Object.freeze({ type, name, blockSize, typeSize, errorBound, storable, dequantizeBlocks, quantizeBlocks });
}

/** Every quantized type this module reads and writes, with its geometry and error bound. */
export const QUANT_FORMATS: ReadonlyMap<GgmlType, QuantFormat> = new Map([
  format(GgmlType.Q8_0, 0.007, dequantizeQ8_0, quantizeQ8_0),
  format(GgmlType.Q4_0, 0.11, dequantizeQ4_0, quantizeQ4_0),
  format(GgmlType.Q4_1, 0.1, dequantizeQ4_1, quantizeQ4_1),
  format(GgmlType.Q5_0, 0.055, dequantizeQ5_0, quantizeQ5_0),
  format(GgmlType.Q5_1, 0.05, dequantizeQ5_1, quantizeQ5_1),
  format(GgmlType.Q2_K, 0.38, dequantizeQ2_K, quantizeQ2_K),
  format(GgmlType.Q3_K, 0.19, dequantizeQ3_K, quantizeQ3_K),
  format(GgmlType.Q4_K, 0.09, dequantizeQ4_K, quantizeQ4_K),
  format(GgmlType.Q5_K, 0.047, dequantizeQ5_K, quantizeQ5_K),
  format(GgmlType.Q6_K, 0.025, dequantizeQ6_K, quantizeQ6_K),
  format(GgmlType.Q8_K, 0.009, dequantizeQ8_K, quantizeQ8_K, false),
].map((f) => [f.type, f]));

export function isQuantType(type: GgmlType): boolean {
  return QUANT_FORMATS.has(type);
}

export function quantFormat(type: GgmlType): QuantFormat {
  const f = QUANT_FORMATS.get(type);
  if (!f) throw new GemmaError(`${ggmlTypeName(type)} is not a quantized type this runtime implements`);
  return f;
}

/** Bytes taken by `count` elements of `type` (count must be a whole number of blocks). */
export function quantizedByteSize(type: GgmlType, count: number): number {
  const f = quantFormat(type);
  if (!Number.isSafeInteger(count) || count < 0 || count % f.blockSize !== 0) {
    throw new GemmaError(`${f.name}: ${count} elements is not a whole number of ${f.blockSize}-element blocks`);
  }
  return (count / f.blockSize) * f.typeSize;
}

/**
 * Decodes `count` elements (a multiple of the block size) of `type` starting at byte
 * `byteOffset` of `bytes` (any alignment) into out[0 .. count).
 */
export function dequantize(type: GgmlType, bytes: Uint8Array, byteOffset: number, count: number, out: Float32Array): void {
  const f = quantFormat(type);
  const size = quantizedByteSize(type, count);
  if (!Number.isSafeInteger(byteOffset) || byteOffset < 0 || byteOffset + size > bytes.byteLength) {
    throw new GemmaError(`${f.name}: ${count} elements at byte ${byteOffset} need ${size} bytes, buffer has ${bytes.byteLength}`);
  }
  if (out.length < count) throw new GemmaError(`${f.name}: output holds ${out.length} values, ${count} requested`);
  f.dequantizeBlocks(bytes, byteOffset, count / f.blockSize, out, 0);
}

/**
 * Quantizes `x` (length a multiple of the block size, all values finite) exactly as
 * llama.cpp's reference quantizer for `type` does. `name` (e.g. the tensor) prefixes errors.
 */
export function quantize(type: GgmlType, x: Float32Array, name?: string): Uint8Array {
  const f = quantFormat(type);
  const what = name === undefined ? `${f.name} quantization` : `tensor ${name} (${f.name})`;
  if (x.length % f.blockSize !== 0) {
    throw new GemmaError(`${what}: ${x.length} values is not a multiple of the block size ${f.blockSize}`);
  }
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) throw new GemmaError(`${what}: element ${i} is ${x[i]}; only finite values can be quantized`);
  }
  const y = new Uint8Array((x.length / f.blockSize) * f.typeSize);
  f.quantizeBlocks(x, 0, x.length / f.blockSize, y, 0, what);
  return y;
}
