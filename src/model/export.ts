/**
 * Writes Gemma checkpoints: a Hugging Face folder (config.json + safetensors) or a GGUF file
 * with the metadata and tensor names llama.cpp's converter uses for `gemma`. Used by the demo,
 * the tests and the benchmarks; `gemma convert` (src/convert) shares the GGUF metadata and
 * streams row chunks instead. Tensors come from a callback in Hugging Face convention (norm
 * weights hold w), one at a time, so a full-size model never has to sit in memory; the GGUF
 * writer stores norms as 1 + w (llama.cpp's convention).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GemmaError } from '../errors.js';
import { f32ArrayToBf16, f32ArrayToF16 } from '../formats/dtype.js';
import { GgmlType, ggmlTypeName } from '../formats/ggml-types.js';
import { gguf, writeGguf, type GgufMetadataEntry } from '../formats/gguf-writer.js';
import { writeShardedSafetensors, writeSafetensors } from '../formats/safetensors-writer.js';
import type { GemmaConfig } from './config.js';
import { canonicalToHf, gemmaTensorSpecs, type TensorSpec } from './tensor-names.js';
import { QUANT_FORMATS, quantize } from '../quant/index.js';

export type TensorProvider = (spec: TensorSpec) => Float32Array;

/** Encoders from float32 to a storage type; quantized types register theirs. */
const encoders = new Map<GgmlType, (x: Float32Array) => Uint8Array>([
  [GgmlType.F32, (x) => new Uint8Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength))],
  [GgmlType.F16, (x) => { const o = new Uint16Array(x.length); f32ArrayToF16(x, o); return new Uint8Array(o.buffer); }],
  [GgmlType.BF16, (x) => { const o = new Uint16Array(x.length); f32ArrayToBf16(x, o); return new Uint8Array(o.buffer); }],
  ...[...QUANT_FORMATS.values()].filter((f) => f.storable).map((f): [GgmlType, (x: Float32Array) => Uint8Array] => [f.type, (x) => quantize(f.type, x)]),
]);

export function registerEncoder(type: GgmlType, encode: (x: Float32Array) => Uint8Array): void {
  encoders.set(type, encode);
}

export function encodeTensor(type: GgmlType, x: Float32Array): Uint8Array {
  const enc = encoders.get(type);
  if (!enc) throw new GemmaError(`cannot write tensors of type ${ggmlTypeName(type)}`);
  return enc(x);
}

const HF_DTYPES: Partial<Record<GgmlType, string>> = { [GgmlType.F32]: 'F32', [GgmlType.F16]: 'F16', [GgmlType.BF16]: 'BF16' };

export function hfConfigJson(c: GemmaConfig, dtype: string): Record<string, unknown> {
  return {
    architectures: ['GemmaForCausalLM'], model_type: 'gemma',
    vocab_size: c.vocabSize, hidden_size: c.hiddenSize, intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numLayers, num_attention_heads: c.numHeads, num_key_value_heads: c.numKvHeads,
    head_dim: c.headDim, hidden_act: 'gelu', hidden_activation: 'gelu_pytorch_tanh',
    max_position_embeddings: c.contextLength, rms_norm_eps: c.rmsNormEps, rope_theta: c.ropeTheta,
    bos_token_id: 2, eos_token_id: 1, pad_token_id: 0, tie_word_embeddings: true, attention_bias: false,
    torch_dtype: dtype === 'BF16' ? 'bfloat16' : dtype === 'F16' ? 'float16' : 'float32',
  };
}

/** Writes config.json and safetensors (sharded when `shardBytes` is given) into `dir`. */
export async function writeGemmaHf(dir: string, c: GemmaConfig, tensors: TensorProvider,
  o: { type?: GgmlType; shardBytes?: number; extraFiles?: Record<string, string | Uint8Array> } = {}): Promise<void> {
  const type = o.type ?? GgmlType.F32;
  const dtype = HF_DTYPES[type];
  if (!dtype) throw new GemmaError(`Hugging Face checkpoints hold F32, F16 or BF16, not ${ggmlTypeName(type)}`);
  await mkdir(dir, { recursive: true });
  const data = gemmaTensorSpecs(c).map((spec) => ({
    name: canonicalToHf(spec.name), dtype, shape: spec.shape, data: encodeTensor(type, tensors(spec)),
  }));
  if (o.shardBytes) await writeShardedSafetensors(dir, data, o.shardBytes, { format: 'pt' });
  else await writeSafetensors(path.join(dir, 'model.safetensors'), data, { format: 'pt' });
  await writeFile(path.join(dir, 'config.json'), JSON.stringify(hfConfigJson(c, dtype), null, 2));
  for (const [name, content] of Object.entries(o.extraFiles ?? {})) await writeFile(path.join(dir, name), content);
}

const GGUF_FILE_TYPE: Partial<Record<GgmlType, number>> = {
  [GgmlType.F32]: 0, [GgmlType.F16]: 1, [GgmlType.Q4_0]: 2, [GgmlType.Q4_1]: 3, [GgmlType.Q8_0]: 7,
  [GgmlType.Q5_0]: 8, [GgmlType.Q5_1]: 9, [GgmlType.Q4_K]: 15, [GgmlType.Q5_K]: 17, [GgmlType.Q6_K]: 18, [GgmlType.BF16]: 32,
};

/**
 * The `gemma.*` and `general.*` metadata llama.cpp reads for this architecture. `fileType` is
 * llama.cpp's llama_ftype (default: the one for `type`); quantized files also get
 * general.quantization_version 2, as llama-quantize writes.
 */
export function gemmaGgufMetadata(c: GemmaConfig, type: GgmlType, name: string, fileType?: number): GgufMetadataEntry[] {
  const { u32, f32 } = gguf;
  const quantized = QUANT_FORMATS.has(type);
  return [
    gguf.str('general.architecture', 'gemma'),
    gguf.str('general.name', name),
    u32('general.file_type', fileType ?? GGUF_FILE_TYPE[type] ?? 0),
    ...(quantized ? [u32('general.quantization_version', 2)] : []),
    u32('gemma.context_length', c.contextLength),
    u32('gemma.embedding_length', c.hiddenSize),
    u32('gemma.block_count', c.numLayers),
    u32('gemma.feed_forward_length', c.intermediateSize),
    u32('gemma.attention.head_count', c.numHeads),
    u32('gemma.attention.head_count_kv', c.numKvHeads),
    u32('gemma.attention.key_length', c.headDim),
    u32('gemma.attention.value_length', c.headDim),
    f32('gemma.attention.layer_norm_rms_epsilon', c.rmsNormEps),
    f32('gemma.rope.freq_base', c.ropeTheta),
  ];
}

/**
 * Writes a Gemma GGUF. Matrices are stored as `type` (`typeOf` may pick per tensor, as
 * llama.cpp's mixed quantization presets do); norms are always F32 and hold 1 + w.
 */
export async function writeGemmaGguf(file: string, c: GemmaConfig, tensors: TensorProvider, o: {
  type?: GgmlType; typeOf?: (spec: TensorSpec) => GgmlType; tokenizer?: GgufMetadataEntry[]; name?: string;
  onProgress?: (done: number, total: number) => void;
} = {}): Promise<void> {
  const type = o.type ?? GgmlType.F32;
  const typeOf = o.typeOf ?? (() => type);
  const specs = gemmaTensorSpecs(c);
  const metadata = [...gemmaGgufMetadata(c, type, o.name ?? 'gemma'), ...(o.tokenizer ?? [])];
  await writeGguf(file, metadata, specs.map((spec) => {
    const t = spec.isNorm ? GgmlType.F32 : typeOf(spec);
    return {
      name: spec.name, shape: spec.shape, type: t,
      data: () => {
        const w = tensors(spec);
        return encodeTensor(t, spec.isNorm ? Float32Array.from(w, (v) => Math.fround(1 + v)) : w);
      },
    };
  }), { onProgress: o.onProgress });
}
