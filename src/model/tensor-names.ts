/**
 * The tensors of a Gemma 1 model under their canonical (GGUF / llama.cpp) names, with the
 * shape each must have, and the one table that maps Hugging Face names onto them.
 * Shapes are row-major: a matrix is [outFeatures, inFeatures].
 */
import type { GemmaConfig } from './config.js';

export interface TensorSpec {
  name: string;
  shape: number[];
  /** RMSNorm weights: GGUF stores 1 + w, HF stores w. */
  isNorm: boolean;
}

/** One visitor over all weights drives loading, validation and the test writers. */
export function gemmaTensorSpecs(c: GemmaConfig): TensorSpec[] {
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const specs: TensorSpec[] = [
    { name: 'token_embd.weight', shape: [c.vocabSize, c.hiddenSize], isNorm: false },
  ];
  for (let i = 0; i < c.numLayers; i++) {
    const b = `blk.${i}.`;
    specs.push(
      { name: `${b}attn_norm.weight`, shape: [c.hiddenSize], isNorm: true },
      { name: `${b}attn_q.weight`, shape: [q, c.hiddenSize], isNorm: false },
      { name: `${b}attn_k.weight`, shape: [kv, c.hiddenSize], isNorm: false },
      { name: `${b}attn_v.weight`, shape: [kv, c.hiddenSize], isNorm: false },
      { name: `${b}attn_output.weight`, shape: [c.hiddenSize, q], isNorm: false },
      { name: `${b}ffn_norm.weight`, shape: [c.hiddenSize], isNorm: true },
      { name: `${b}ffn_gate.weight`, shape: [c.intermediateSize, c.hiddenSize], isNorm: false },
      { name: `${b}ffn_up.weight`, shape: [c.intermediateSize, c.hiddenSize], isNorm: false },
      { name: `${b}ffn_down.weight`, shape: [c.hiddenSize, c.intermediateSize], isNorm: false },
    );
  }
  specs.push({ name: 'output_norm.weight', shape: [c.hiddenSize], isNorm: true });
  return specs;
}

const HF_LAYER: Record<string, string> = {
  'input_layernorm.weight': 'attn_norm.weight',
  'self_attn.q_proj.weight': 'attn_q.weight',
  'self_attn.k_proj.weight': 'attn_k.weight',
  'self_attn.v_proj.weight': 'attn_v.weight',
  'self_attn.o_proj.weight': 'attn_output.weight',
  'post_attention_layernorm.weight': 'ffn_norm.weight',
  'mlp.gate_proj.weight': 'ffn_gate.weight',
  'mlp.up_proj.weight': 'ffn_up.weight',
  'mlp.down_proj.weight': 'ffn_down.weight',
};
const HF_LAYER_REVERSE = Object.fromEntries(Object.entries(HF_LAYER).map(([k, v]) => [v, k]));

/**
 * HF name → canonical name; undefined for tensors Gemma 1 does not use. `lm_head.weight` is
 * not used: the output head is tied to the embedding (logits = h · embedᵀ).
 */
export function hfToCanonical(hf: string): string | undefined {
  if (hf === 'model.embed_tokens.weight') return 'token_embd.weight';
  if (hf === 'model.norm.weight') return 'output_norm.weight';
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(hf);
  if (m && HF_LAYER[m[2]]) return `blk.${m[1]}.${HF_LAYER[m[2]]}`;
  return undefined;
}

export function canonicalToHf(name: string): string {
  if (name === 'token_embd.weight') return 'model.embed_tokens.weight';
  if (name === 'output_norm.weight') return 'model.norm.weight';
  const m = /^blk\.(\d+)\.(.+)$/.exec(name);
  if (m && HF_LAYER_REVERSE[m[2]]) return `model.layers.${m[1]}.${HF_LAYER_REVERSE[m[2]]}`;
  throw new Error(`no HF name for ${name}`);
}
