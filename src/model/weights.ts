/**
 * Moves a checkpoint's tensors onto a backend, checking every one against the shapes the
 * config implies. The "+1" of Gemma's RMSNorm is applied here and only here: HF files store w
 * and the model computes x̂ · (1 + w) in float32; GGUF files already store 1 + w.
 */
import { GemmaError } from '../errors.js';
import { bf16ArrayToF32, f16ArrayToF32 } from '../formats/dtype.js';
import { GgmlType, GGML_TYPE_INFO, ggmlTypeName } from '../formats/ggml-types.js';
import { findNonFiniteScale } from '../quant/validate.js';
import type { Backend, Tensor, Weight } from '../backend/types.js';
import type { Checkpoint, CheckpointTensor } from './checkpoint.js';
import { canonicalToHf, gemmaTensorSpecs, type TensorSpec } from './tensor-names.js';

export interface LayerWeights {
  attnNorm: Tensor;
  q: Weight;
  k: Weight;
  v: Weight;
  o: Weight;
  ffnNorm: Tensor;
  gate: Weight;
  up: Weight;
  down: Weight;
}

export interface GemmaWeights {
  /** [vocab, hidden]; also the output head (tied). */
  embed: Weight;
  layers: LayerWeights[];
  /** Final norm as a [1, hidden] float32 tensor holding 1 + w. */
  outputNorm: Tensor;
}

function label(ckpt: Checkpoint, name: string): string {
  return ckpt.format === 'gguf' ? name : `${canonicalToHf(name)}`;
}

/** Checks presence, shape and type of every tensor before anything is read. */
export function checkTensors(ckpt: Checkpoint, backend: Backend): TensorSpec[] {
  const specs = gemmaTensorSpecs(ckpt.config);
  for (const spec of specs) {
    const t = ckpt.tensors.get(spec.name);
    const where = label(ckpt, spec.name);
    if (!t) throw new GemmaError(`${ckpt.path}: missing tensor ${where}`);
    const same = t.shape.length === spec.shape.length && t.shape.every((d, i) => d === spec.shape[i]);
    if (!same) {
      throw new GemmaError(`tensor ${where}: expected shape [${spec.shape.join(', ')}], file has [${t.shape.join(', ')}]`);
    }
    if (spec.isNorm) {
      if (![GgmlType.F32, GgmlType.F16, GgmlType.BF16].includes(t.type)) {
        throw new GemmaError(`tensor ${where}: norm weights must be F32, F16 or BF16, file has ${ggmlTypeName(t.type)}`);
      }
    } else if (!backend.supportsWeightType(t.type)) {
      throw new GemmaError(`tensor ${where}: type ${ggmlTypeName(t.type)} is not supported by the ${backend.name} backend`);
    }
  }
  return specs;
}

async function readChecked(t: CheckpointTensor, where: string): Promise<Uint8Array> {
  const bytes = await t.read();
  if (bytes.byteLength !== t.byteLength) {
    throw new GemmaError(`tensor ${where}: read ${bytes.byteLength} bytes, expected ${t.byteLength}`);
  }
  const bad = findNonFiniteScale(t.type, bytes);
  if (bad) {
    const perRow = t.shape[t.shape.length - 1] / GGML_TYPE_INFO[t.type]!.blockSize;
    throw new GemmaError(`tensor ${where}: block ${bad.block % perRow} of row ${Math.floor(bad.block / perRow)} has a non-finite `
      + `float16 scale (0x${bad.bits.toString(16).padStart(4, '0')}); the file is corrupt`);
  }
  return bytes;
}

function normToF32(bytes: Uint8Array, type: GgmlType, n: number): Float32Array {
  const out = new Float32Array(n);
  const copy = bytes.slice();
  if (type === GgmlType.F32) out.set(new Float32Array(copy.buffer, 0, n));
  else if (type === GgmlType.F16) f16ArrayToF32(new Uint16Array(copy.buffer, 0, n), out);
  else bf16ArrayToF32(new Uint16Array(copy.buffer, 0, n), out);
  return out;
}

export async function loadWeights(
  ckpt: Checkpoint, backend: Backend,
  onProgress?: (p: { loaded: number; total: number }) => void,
): Promise<GemmaWeights> {
  const specs = checkTensors(ckpt, backend);
  const total = specs.reduce((s, spec) => s + ckpt.tensors.get(spec.name)!.byteLength, 0);
  let loaded = 0;
  const norms = new Map<string, Tensor>();
  const mats = new Map<string, Weight>();
  onProgress?.({ loaded, total });
  for (const spec of specs) {
    const t = ckpt.tensors.get(spec.name)!;
    const where = label(ckpt, spec.name);
    const bytes = await readChecked(t, where);
    if (spec.isNorm) {
      const w = normToF32(bytes, t.type, spec.shape[0]);
      if (!ckpt.normsIncludeOne) for (let i = 0; i < w.length; i++) w[i] = Math.fround(1 + w[i]);
      const tensor = backend.createTensor(1, w.length);
      backend.write(tensor, w);
      norms.set(spec.name, tensor);
    } else {
      mats.set(spec.name, backend.createWeight(spec.name, { shape: [spec.shape[0], spec.shape[1]], type: t.type, bytes }));
    }
    loaded += t.byteLength;
    onProgress?.({ loaded, total });
  }
  const layers: LayerWeights[] = [];
  for (let i = 0; i < ckpt.config.numLayers; i++) {
    const b = `blk.${i}.`;
    layers.push({
      attnNorm: norms.get(`${b}attn_norm.weight`)!,
      q: mats.get(`${b}attn_q.weight`)!,
      k: mats.get(`${b}attn_k.weight`)!,
      v: mats.get(`${b}attn_v.weight`)!,
      o: mats.get(`${b}attn_output.weight`)!,
      ffnNorm: norms.get(`${b}ffn_norm.weight`)!,
      gate: mats.get(`${b}ffn_gate.weight`)!,
      up: mats.get(`${b}ffn_up.weight`)!,
      down: mats.get(`${b}ffn_down.weight`)!,
    });
  }
  return { embed: mats.get('token_embd.weight')!, layers, outputNorm: norms.get('output_norm.weight')! };
}
