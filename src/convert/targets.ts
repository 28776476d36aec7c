/**
 * What `gemma convert --type` can produce, and which storage type each tensor gets.
 *
 * Plain types (f32 … q6_k) store every matrix in that type, as llama.cpp's `llama-quantize
 * --pure` does; norms are always F32 (they hold 1 + w). The mixed presets follow llama.cpp's
 * `llama_tensor_get_type` (src/llama-quant.cpp) for a Gemma model, whose output head is tied to
 * the embedding:
 *
 *   token_embd   Q6_K (Q8_0 when the row length is not a multiple of 256)
 *   attn_v       Q4_K_M, Q5_K_M: Q6_K in "more bits" layers; Q4_K_S: Q5_K in layers 0–3
 *   ffn_down     Q4_K_M, Q5_K_M: Q6_K in "more bits" layers; Q4_K_S: Q5_K in the first n/8
 *   everything else the preset's base type (Q4_K or Q5_K)
 *
 * where "more bits" layers are i < n/8, i ≥ 7n/8 and every third layer in between
 * ((i − n/8) mod 3 = 2). Finally, as llama.cpp's tensor_type_fallback, a type whose block does
 * not divide the row length falls back: Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0, then F16.
 * The rules for MoE models, 70B, Falcon and importance matrices do not apply to Gemma 1.
 */
import { GemmaError } from '../errors.js';
import { GgmlType, GGML_TYPE_INFO, ggmlTypeName } from '../formats/ggml-types.js';
import type { GemmaConfig } from '../model/config.js';
import type { TensorSpec } from '../model/tensor-names.js';

export interface ConvertTarget {
  /** Lower-case CLI name: 'q4_k_m'. */
  readonly name: string;
  /** The type most matrices get. */
  readonly base: GgmlType;
  /** llama.cpp's llama_ftype, stored as general.file_type. */
  readonly fileType: number;
  /** True for llama.cpp's mixed presets. */
  readonly mixed: boolean;
  readonly description: string;
}

function target(name: string, base: GgmlType, fileType: number, description: string, mixed = false): ConvertTarget {
  return Object.freeze({ name, base, fileType, mixed, description });
}

/** Every accepted --type, in the order `gemma convert --help` and `gemma mem` list them. */
export const CONVERT_TARGETS: readonly ConvertTarget[] = [
  target('f32', GgmlType.F32, 0, 'float32, lossless'),
  target('f16', GgmlType.F16, 1, 'float16'),
  target('bf16', GgmlType.BF16, 32, 'bfloat16, as Gemma is published'),
  target('q8_0', GgmlType.Q8_0, 7, '8-bit blocks of 32'),
  target('q6_k', GgmlType.Q6_K, 18, '6-bit K-quant'),
  target('q5_k', GgmlType.Q5_K, 17, '5-bit K-quant'),
  target('q5_1', GgmlType.Q5_1, 9, '5-bit blocks of 32 with minimum'),
  target('q5_0', GgmlType.Q5_0, 8, '5-bit blocks of 32'),
  target('q4_k', GgmlType.Q4_K, 15, '4-bit K-quant'),
  target('q4_1', GgmlType.Q4_1, 3, '4-bit blocks of 32 with minimum'),
  target('q4_0', GgmlType.Q4_0, 2, '4-bit blocks of 32'),
  target('q5_k_m', GgmlType.Q5_K, 17, "llama.cpp's Q5_K_M mix", true),
  target('q5_k_s', GgmlType.Q5_K, 16, "llama.cpp's Q5_K_S mix", true),
  target('q4_k_m', GgmlType.Q4_K, 15, "llama.cpp's Q4_K_M mix", true),
  target('q4_k_s', GgmlType.Q4_K, 14, "llama.cpp's Q4_K_S mix", true),
];

export function convertTarget(name: string): ConvertTarget {
  const key = String(name).trim().toLowerCase();
  const t = CONVERT_TARGETS.find((x) => x.name === key);
  if (!t) throw new GemmaError(`unknown type ${JSON.stringify(name)}; expected one of ${CONVERT_TARGETS.map((x) => x.name).join(', ')}`);
  return t;
}

/** llama.cpp's use_more_bits: layers that get more bits in the _M presets. */
export function useMoreBits(layer: number, layers: number): boolean {
  const eighth = Math.floor(layers / 8);
  return layer < eighth || layer >= Math.floor((7 * layers) / 8) || (layer - eighth) % 3 === 2;
}

const FALLBACK: Partial<Record<GgmlType, GgmlType>> = {
  [GgmlType.Q2_K]: GgmlType.Q4_0, [GgmlType.Q3_K]: GgmlType.Q4_0,
  [GgmlType.Q4_K]: GgmlType.Q5_0, [GgmlType.Q5_K]: GgmlType.Q5_1, [GgmlType.Q6_K]: GgmlType.Q8_0,
};

/** llama.cpp's tensor_type_fallback for a row of `cols` elements. */
export function fallbackType(type: GgmlType, cols: number): GgmlType {
  const fits = (t: GgmlType) => cols % GGML_TYPE_INFO[t]!.blockSize === 0;
  if (fits(type)) return type;
  const next = FALLBACK[type];
  return next !== undefined && fits(next) ? next : GgmlType.F16;
}

function layerOf(name: string): number {
  const m = /^blk\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : -1;
}

/** The storage type of one tensor under `t`. */
export function tensorType(t: ConvertTarget, spec: TensorSpec, config: GemmaConfig): GgmlType {
  if (spec.isNorm || spec.shape.length < 2) return GgmlType.F32;
  const cols = spec.shape[spec.shape.length - 1]!;
  let type = t.base;
  if (t.mixed) {
    const layer = layerOf(spec.name), n = config.numLayers;
    if (spec.name === 'token_embd.weight') {
      // Tied output head: llama.cpp quantizes the embedding as it would quantize output.weight.
      type = cols % GGML_TYPE_INFO[t.base]!.blockSize !== 0 ? GgmlType.Q8_0 : GgmlType.Q6_K;
    } else if (spec.name.endsWith('.attn_v.weight')) {
      if ((t.name === 'q4_k_m' || t.name === 'q5_k_m') && useMoreBits(layer, n)) type = GgmlType.Q6_K;
      else if (t.name === 'q4_k_s' && layer < 4) type = GgmlType.Q5_K;
    } else if (spec.name.endsWith('.ffn_down.weight')) {
      if ((t.name === 'q4_k_m' || t.name === 'q5_k_m') && useMoreBits(layer, n)) type = GgmlType.Q6_K;
      else if (t.name === 'q4_k_s' && layer < Math.floor(n / 8)) type = GgmlType.Q5_K;
    }
  }
  return fallbackType(type, cols);
}

/** Tensor counts per storage type name, e.g. { F32: 37, Q4_K: 110, Q6_K: 20 }. */
export function typeCounts(types: Iterable<GgmlType>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of types) out[ggmlTypeName(t)] = (out[ggmlTypeName(t)] ?? 0) + 1;
  return out;
}
