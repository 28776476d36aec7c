/**
 * Gemma 1 hyper-parameters, read from a Hugging Face config.json or GGUF metadata.
 * Shapes in the file are checked against this config when the weights load (weights.ts), and
 * head_dim is always read from the file: 7B has 16 heads × 256 = 4096 ≠ hidden 3072.
 */
import { GemmaError } from '../errors.js';

export interface GemmaConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  contextLength: number;
  rmsNormEps: number;
  ropeTheta: number;
}

/** Sizes beyond these are not a Gemma 1 model (or a corrupt header) and are refused before allocating. */
const LIMITS: Partial<Record<keyof GemmaConfig, number>> = {
  vocabSize: 1 << 20, hiddenSize: 1 << 16, intermediateSize: 1 << 18, numLayers: 1024,
  numHeads: 1024, numKvHeads: 1024, headDim: 4096, contextLength: 1 << 20,
};

export function validateConfig(c: GemmaConfig, where: string): GemmaConfig {
  for (const [k, v] of Object.entries(c) as [keyof GemmaConfig, number][]) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new GemmaError(`${where}: ${k} must be a positive number, got ${JSON.stringify(v)}`);
    }
    const limit = LIMITS[k];
    if (limit !== undefined && (!Number.isInteger(v) || v > limit)) {
      throw new GemmaError(`${where}: ${k} = ${v} is not an integer in 1..${limit}`);
    }
  }
  if (c.numHeads % c.numKvHeads !== 0) {
    throw new GemmaError(`${where}: ${c.numHeads} attention heads is not a multiple of ${c.numKvHeads} KV heads`);
  }
  if (c.headDim % 2 !== 0) throw new GemmaError(`${where}: head_dim ${c.headDim} must be even for RoPE`);
  return c;
}

const TANH_GELU = new Set(['gelu_pytorch_tanh', 'gelu_tanh', 'gelu_new', 'gelu_fast']);

/**
 * From an HF `config.json` (transformers' GemmaConfig). The FFN activation is the tanh
 * approximation of GELU: transformers reads `hidden_activation` and ignores `hidden_act`
 * (Gemma 1 configs say "gelu" there, but the model was trained with the approximation).
 */
export function configFromHf(json: unknown, where: string): GemmaConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new GemmaError(`${where}: expected a JSON object`);
  }
  const j = json as Record<string, unknown>;
  const modelType = j.model_type;
  if (modelType !== 'gemma') {
    const hint = typeof modelType === 'string' && modelType.startsWith('gemma')
      ? ` (${modelType} is a later Gemma generation; only Gemma 1 is supported)` : '';
    throw new GemmaError(`${where}: model_type is ${JSON.stringify(modelType)}, expected "gemma"${hint}`);
  }
  const act = j.hidden_activation;
  if (act !== undefined && act !== null && !TANH_GELU.has(String(act))) {
    throw new GemmaError(`${where}: hidden_activation ${JSON.stringify(act)} is not supported; Gemma 1 uses gelu_pytorch_tanh`);
  }
  const num = (key: string, fallback?: number): number => {
    const v = j[key] ?? fallback;
    if (typeof v !== 'number') throw new GemmaError(`${where}: field ${key} is missing or not a number`);
    return v;
  };
  const numHeads = num('num_attention_heads');
  return validateConfig({
    vocabSize: num('vocab_size'),
    hiddenSize: num('hidden_size'),
    intermediateSize: num('intermediate_size'),
    numLayers: num('num_hidden_layers'),
    numHeads,
    numKvHeads: num('num_key_value_heads', numHeads),
    headDim: num('head_dim', 256),
    contextLength: num('max_position_embeddings', 8192),
    rmsNormEps: num('rms_norm_eps', 1e-6),
    ropeTheta: num('rope_theta', 10000),
  }, where);
}

/** From GGUF metadata as llama.cpp's converter writes it for `general.architecture = gemma`. */
export function configFromGguf(meta: Map<string, unknown>, vocabSize: number, where: string): GemmaConfig {
  const arch = meta.get('general.architecture');
  if (arch !== 'gemma') {
    const hint = typeof arch === 'string' && arch.startsWith('gemma') ? ' (only Gemma 1 is supported)' : '';
    throw new GemmaError(`${where}: general.architecture is ${JSON.stringify(arch ?? null)}, expected "gemma"${hint}`);
  }
  const num = (key: string, fallback?: number): number => {
    const v = meta.get(`gemma.${key}`) ?? fallback;
    if (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
    if (typeof v !== 'number') throw new GemmaError(`${where}: metadata key gemma.${key} is missing or not a number`);
    return v;
  };
  const numHeads = num('attention.head_count');
  const hidden = num('embedding_length');
  const keyLength = num('attention.key_length', 256);
  const valueLength = num('attention.value_length', keyLength);
  if (keyLength !== valueLength) {
    throw new GemmaError(`${where}: gemma.attention.key_length ${keyLength} ≠ value_length ${valueLength}`);
  }
  return validateConfig({
    vocabSize,
    hiddenSize: hidden,
    intermediateSize: num('feed_forward_length'),
    numLayers: num('block_count'),
    numHeads,
    numKvHeads: num('attention.head_count_kv', numHeads),
    headDim: keyLength,
    contextLength: num('context_length', 8192),
    rmsNormEps: num('attention.layer_norm_rms_epsilon', 1e-6),
    ropeTheta: num('rope.freq_base', 10000),
  }, where);
}
