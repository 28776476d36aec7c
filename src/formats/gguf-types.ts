import type { GgmlType } from './ggml-types.js';
import type { ByteSource } from './source.js';

/*
 * GGUF file structure, from the spec in ggml's docs/gguf.md:
 *
 *   header:  u32 magic "GGUF" | u32 version | u64 tensor_count | u64 metadata_kv_count
 *   kv:      string key | u32 value_type | value
 *   tensor:  string name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset
 *   padding to general.alignment (default 32), then the tensor data section;
 *   each tensor offset is relative to that section and a multiple of the alignment.
 *
 * string = u64 byte length + UTF-8 bytes (no terminator); array = u32 item type +
 * u64 count + items. Version 1 used u32 for counts and lengths and is not
 * supported; versions 2 and 3 share one layout (v3 only added big-endian files,
 * which are recognisable because their version field reads byte-swapped).
 */

export enum GgufValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/** UINT64/INT64 values become numbers when they fit in 2^53, otherwise bigints. */
export type GgufValue = number | bigint | boolean | string | GgufValue[];

export interface GgufTensorInfo {
  name: string;
  /** Row-major: slowest dimension first, i.e. GGUF's ne[] reversed; a [rows, cols] matrix has shape [rows, cols]. */
  shape: number[];
  type: GgmlType;
  /** Absolute byte offset in the file. */
  offset: number;
  byteLength: number;
}

export interface GgufFile {
  source: ByteSource;
  version: number;
  metadata: Map<string, GgufValue>;
  /** The stored value type of each key (ARRAY for arrays). */
  metadataTypes: Map<string, GgufValueType>;
  /** For array keys: item type, then (for nested arrays) the item types of the first inner array, outermost first. */
  arrayItemTypes: Map<string, GgufValueType[]>;
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Absolute offset of the tensor data section. */
  dataOffset: number;
}

export const GGUF_MAGIC = 'GGUF';
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Hard caps on counts read from a file, checked before anything is allocated. */
export const GGUF_LIMITS = {
  maxTensors: 1 << 20,
  maxKeyValues: 1 << 20,
  maxStringLength: 1 << 26,
  maxArrayLength: 1 << 28,
  maxArrayDepth: 8,
  /** GGML_MAX_DIMS */
  maxDims: 4,
} as const;

/** Encoded size of each fixed-size value type. */
export const GGUF_SCALAR_SIZE: Readonly<Partial<Record<GgufValueType, number>>> = {
  [GgufValueType.UINT8]: 1,
  [GgufValueType.INT8]: 1,
  [GgufValueType.BOOL]: 1,
  [GgufValueType.UINT16]: 2,
  [GgufValueType.INT16]: 2,
  [GgufValueType.UINT32]: 4,
  [GgufValueType.INT32]: 4,
  [GgufValueType.FLOAT32]: 4,
  [GgufValueType.UINT64]: 8,
  [GgufValueType.INT64]: 8,
  [GgufValueType.FLOAT64]: 8,
};

/** Smallest encoding of a value: a string is at least its u64 length, an array its u32 type + u64 count. */
export function minEncodedSize(type: GgufValueType): number {
  return GGUF_SCALAR_SIZE[type] ?? (type === GgufValueType.STRING ? 8 : 12);
}

export function isGgufValueType(t: number): t is GgufValueType {
  return Number.isInteger(t) && t >= 0 && t <= GgufValueType.FLOAT64;
}
