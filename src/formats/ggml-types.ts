import { GemmaError } from '../errors.js';

/**
 * Tensor element types, numbered as ggml's `enum ggml_type` (ggml/include/ggml.h).
 * The numbers are stored in GGUF files and never reused; gaps are ids whose
 * support ggml removed (4–5: Q4_2/Q4_3, 31–33: Q4_0_x_y, 36–38: IQ4_NL_x_y).
 */
export enum GgmlType {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
  NVFP4 = 40,
  Q1_0 = 41,
  Q2_0 = 42,
}

export interface GgmlTypeInfo {
  name: string;
  /** Elements per block (ggml's blck_size). */
  blockSize: number;
  /** Bytes per block (ggml's type_size, the size of the block struct in ggml-common.h). */
  typeSize: number;
}

function info(name: string, blockSize: number, typeSize: number): GgmlTypeInfo {
  return { name, blockSize, typeSize };
}

/*
 * Block geometry from ggml's type_traits (ggml.c) and block structs
 * (ggml-common.h); QK_K = 256 for the K and IQ super-block types. Every f16
 * scale (ggml_half) is 2 bytes, e.g. block_q8_0 = { half d; int8 qs[32] } = 34 bytes.
 */
export const GGML_TYPE_INFO: Readonly<Record<number, GgmlTypeInfo>> = Object.freeze({
  [GgmlType.F32]: info('F32', 1, 4),
  [GgmlType.F16]: info('F16', 1, 2),
  [GgmlType.Q4_0]: info('Q4_0', 32, 18),
  [GgmlType.Q4_1]: info('Q4_1', 32, 20),
  [GgmlType.Q5_0]: info('Q5_0', 32, 22),
  [GgmlType.Q5_1]: info('Q5_1', 32, 24),
  [GgmlType.Q8_0]: info('Q8_0', 32, 34),
  [GgmlType.Q8_1]: info('Q8_1', 32, 36),
  [GgmlType.Q2_K]: info('Q2_K', 256, 84),
  [GgmlType.Q3_K]: info('Q3_K', 256, 110),
  [GgmlType.Q4_K]: info('Q4_K', 256, 144),
  [GgmlType.Q5_K]: info('Q5_K', 256, 176),
  [GgmlType.Q6_K]: info('Q6_K', 256, 210),
  [GgmlType.Q8_K]: info('Q8_K', 256, 292),
  [GgmlType.IQ2_XXS]: info('IQ2_XXS', 256, 66),
  [GgmlType.IQ2_XS]: info('IQ2_XS', 256, 74),
  [GgmlType.IQ3_XXS]: info('IQ3_XXS', 256, 98),
  [GgmlType.IQ1_S]: info('IQ1_S', 256, 50),
  [GgmlType.IQ4_NL]: info('IQ4_NL', 32, 18),
  [GgmlType.IQ3_S]: info('IQ3_S', 256, 110),
  [GgmlType.IQ2_S]: info('IQ2_S', 256, 82),
  [GgmlType.IQ4_XS]: info('IQ4_XS', 256, 136),
  [GgmlType.I8]: info('I8', 1, 1),
  [GgmlType.I16]: info('I16', 1, 2),
  [GgmlType.I32]: info('I32', 1, 4),
  [GgmlType.I64]: info('I64', 1, 8),
  [GgmlType.F64]: info('F64', 1, 8),
  [GgmlType.IQ1_M]: info('IQ1_M', 256, 56),
  [GgmlType.BF16]: info('BF16', 1, 2),
  [GgmlType.TQ1_0]: info('TQ1_0', 256, 54),
  [GgmlType.TQ2_0]: info('TQ2_0', 256, 66),
  [GgmlType.MXFP4]: info('MXFP4', 32, 17),
  [GgmlType.NVFP4]: info('NVFP4', 64, 36),
  [GgmlType.Q1_0]: info('Q1_0', 128, 18),
  [GgmlType.Q2_0]: info('Q2_0', 64, 18),
});

export function isKnownGgmlType(type: number): type is GgmlType {
  return Object.prototype.hasOwnProperty.call(GGML_TYPE_INFO, type);
}

/** The type's geometry; throws GemmaError for ids ggml does not define (any more). */
export function ggmlTypeInfo(type: number, tensorName?: string): GgmlTypeInfo {
  if (!isKnownGgmlType(type)) {
    const prefix = tensorName === undefined ? '' : `tensor ${tensorName}: `;
    throw new GemmaError(`${prefix}unsupported GGML type id ${type}`);
  }
  return GGML_TYPE_INFO[type]!;
}

/** "Q8_0" for known types, "unknown GGML type 99" otherwise. */
export function ggmlTypeName(type: number): string {
  return isKnownGgmlType(type) ? GGML_TYPE_INFO[type]!.name : `unknown GGML type ${type}`;
}

/** Number of elements of a row-major shape (1 for a scalar `[]`). */
export function shapeElements(shape: readonly number[], tensorName = '?'): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new GemmaError(`tensor ${tensorName}: invalid dimension ${d} in shape [${shape.join(', ')}]`);
    }
    n *= d;
  }
  if (!Number.isSafeInteger(n)) {
    throw new GemmaError(`tensor ${tensorName}: shape [${shape.join(', ')}] has more than 2^53 elements`);
  }
  return n;
}

/**
 * Bytes occupied by a tensor of `type` and row-major `shape`. Blocks never
 * straddle rows in ggml, so the row length (last dimension) must be a
 * multiple of the block size.
 */
export function tensorByteSize(type: number, shape: readonly number[], tensorName = '?'): number {
  const { name, blockSize, typeSize } = ggmlTypeInfo(type, tensorName);
  const elements = shapeElements(shape, tensorName);
  const rowLength = shape.length === 0 ? 1 : shape[shape.length - 1]!;
  if (rowLength % blockSize !== 0) {
    throw new GemmaError(
      `tensor ${tensorName}: row length ${rowLength} is not a multiple of the ${name} block size ${blockSize}`,
    );
  }
  const bytes = (elements / blockSize) * typeSize;
  if (!Number.isSafeInteger(bytes)) {
    throw new GemmaError(`tensor ${tensorName}: byte size of shape [${shape.join(', ')}] exceeds 2^53`);
  }
  return bytes;
}
