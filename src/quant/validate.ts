/**
 * Validation of quantized tensor data: every block's float16 scale (and min) must be finite.
 * A block with an Inf or NaN scale turns every element, and through the next matmul every
 * activation, into NaN: the model would produce garbage instead of an error. ggml's
 * ggml_validate_row_data checks the same fields (llama.cpp runs it with --check-tensors).
 * Integer sub-block scales (K-quants) cannot be non-finite; only the float16 fields are read.
 */
import { GgmlType, GGML_TYPE_INFO } from '../formats/ggml-types.js';

/** Byte offsets of the float16 fields inside one block (ggml's block structs). */
const F16_FIELDS: Partial<Record<GgmlType, readonly number[]>> = {
  [GgmlType.Q4_0]: [0],
  [GgmlType.Q4_1]: [0, 2],
  [GgmlType.Q5_0]: [0],
  [GgmlType.Q5_1]: [0, 2],
  [GgmlType.Q8_0]: [0],
  [GgmlType.Q2_K]: [80, 82],
  [GgmlType.Q3_K]: [108],
  [GgmlType.Q4_K]: [0, 2],
  [GgmlType.Q5_K]: [0, 2],
  [GgmlType.Q6_K]: [208],
};

export interface BadScale {
  /** Index of the block in the tensor. */
  block: number;
  /** The float16 bits found there. */
  bits: number;
}

/**
 * The first block of `bytes` (a whole tensor of `type`) whose float16 scale or min is Inf or
 * NaN, or undefined when there is none (also for types without float16 block fields).
 */
export function findNonFiniteScale(type: GgmlType, bytes: Uint8Array): BadScale | undefined {
  const fields = F16_FIELDS[type];
  if (!fields) return undefined;
  const size = GGML_TYPE_INFO[type]!.typeSize;
  const blocks = Math.floor(bytes.byteLength / size);
  // Every block size and field offset is even: read through a Uint16Array when the data is
  // 2-byte aligned (GGUF aligns tensor data to 32 bytes), a DataView otherwise.
  if (bytes.byteOffset % 2 === 0) {
    const u16 = new Uint16Array(bytes.buffer, bytes.byteOffset, Math.floor(bytes.byteLength / 2));
    const stride = size >> 1;
    for (const f of fields) {
      for (let b = 0, i = f >> 1; b < blocks; b++, i += stride) {
        if ((u16[i] & 0x7c00) === 0x7c00) return { block: b, bits: u16[i] };
      }
    }
    return undefined;
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const f of fields) {
    for (let b = 0; b < blocks; b++) {
      const bits = dv.getUint16(b * size + f, true);
      if ((bits & 0x7c00) === 0x7c00) return { block: b, bits };
    }
  }
  return undefined;
}
