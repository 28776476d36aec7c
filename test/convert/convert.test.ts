/**
 * What `convertModel` writes: Gemma GGUF metadata and tensor names, norms as fround(1 + w),
 * each tensor in its type (bytes equal to the encoders / llama.cpp's reference quantizers),
 * the source's tokenizer; the same bytes whatever the chunking and the number of threads;
 * GGUF sources re-encoded or copied; and a file both gemma-ts and its writers agree on.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { convertModel, type ConvertProgress } from '../../src/convert/convert.js';
import { encodeValues } from '../../src/convert/encode.js';
import { openFileSource } from '../../src/formats/file-source.js';
import { f32ToBf16 } from '../../src/formats/dtype.js';
import { GgmlType } from '../../src/formats/ggml-types.js';
import { readGguf, type GgufFile } from '../../src/formats/gguf.js';
import { tokenizerToGgufMetadata } from '../../src/tokenizer/gguf-vocab.js';
import { loadTokenizer } from '../../src/tokenizer/load.js';
import { gemmaTensorSpecs, type TensorSpec } from '../../src/model/tensor-names.js';
import { loadRef } from '../helpers/load.js';
import { randomWeights, tinyConfig, tmpDir } from '../helpers/tiny-models.js';
import { writeHfModel } from './helpers.js';

const config = tinyConfig({ vocabSize: 320, numKvHeads: 2 });
const weights = randomWeights(config, { seed: 5 });
const specs = gemmaTensorSpecs(config);
const ids = [2, 17, 300, 41, 99, 260, 5, 77];

async function open(file: string): Promise<{ g: GgufFile; bytes: (name: string) => Promise<Uint8Array>; close: () => Promise<void> }> {
  const src = await openFileSource(file);
  const g = await readGguf(src);
  return {
    g,
    bytes: (name) => { const t = g.tensors.find((x) => x.name === name)!; return src.read(t.offset, t.byteLength); },
    close: () => src.close(),
  };
}

/** What a converter must store for `spec` in `type`: norms as fround(1 + w) in F32. */
function expected(spec: TensorSpec, type: GgmlType, w: (s: TensorSpec) => Float32Array = weights): Uint8Array {
  const x = w(spec);
  if (spec.isNorm) return encodeValues(GgmlType.F32, Float32Array.from(x, (v) => Math.fround(1 + v)), spec.name).slice();
  return encodeValues(type, x, spec.name).slice();
}

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.from(a).equals(Buffer.from(b));

describe('convertModel', () => {
  const dir = tmpDir('gemma-convert-');
  let hf: string;
  let logits: Float32Array;

  beforeAll(async () => {
    // Sharded, as published checkpoints are.
    hf = await writeHfModel(path.join(dir, 'hf'), config, weights, { shardBytes: 60_000 });
    logits = await (await loadRef(hf)).session().eval(ids, { allLogits: true });
  });

  it('F32: llama.cpp names and metadata, norms as 1 + w, the folder\'s tokenizer; gemma-ts gives the source\'s logits', async () => {
    const out = path.join(dir, 'f32.gguf');
    const progress: ConvertProgress[] = [];
    const r = await convertModel(hf, out, { type: 'f32', onProgress: (p) => progress.push(p) });
    expect(r).toMatchObject({ type: 'f32', tensors: specs.length, types: { F32: specs.length }, threads: 1, bytes: statSync(out).size });
    expect(progress.at(-1)).toMatchObject({ bytes: r.bytes, totalBytes: r.bytes });
    expect(progress.every((p, i) => i === 0 || p.bytes >= progress[i - 1]!.bytes)).toBe(true);
    const f = await open(out);
    try {
      const m = f.g.metadata;
      expect(f.g.tensors.map((t) => t.name)).toEqual(specs.map((s) => s.name));
      expect(m.get('general.architecture')).toBe('gemma');
      expect(m.get('general.name')).toBe('hf');
      expect(m.get('general.file_type')).toBe(0);
      expect(m.has('general.quantization_version')).toBe(false);
      expect([m.get('gemma.block_count'), m.get('gemma.embedding_length'), m.get('gemma.feed_forward_length')]).toEqual([2, 64, 128]);
      expect([m.get('gemma.attention.head_count'), m.get('gemma.attention.head_count_kv'), m.get('gemma.attention.key_length')]).toEqual([4, 2, 16]);
      const tok = tokenizerToGgufMetadata(await loadTokenizer(hf));
      for (const e of tok) expect(m.get(e.key), e.key).toEqual(e.value);
      expect(m.get('tokenizer.ggml.pre')).toBe('default');
      for (const spec of specs) expect(same(await f.bytes(spec.name), expected(spec, GgmlType.F32)), spec.name).toBe(true);
    } finally {
      await f.close();
    }
    const ours = await (await loadRef(out)).session().eval(ids, { allLogits: true });
    expect(ours).toEqual(logits);
  });

  it.each([
    ['bf16', GgmlType.BF16], ['f16', GgmlType.F16], ['q8_0', GgmlType.Q8_0], ['q4_0', GgmlType.Q4_0], ['q5_1', GgmlType.Q5_1],
  ] as const)('%s: every matrix encoded as the reference encoder does, in any chunking', async (name, type) => {
    const a = path.join(dir, `${name}.gguf`), b = path.join(dir, `${name}-chunked.gguf`);
    const r = await convertModel(hf, a, { type: name });
    expect(r.types).toEqual({ [GgmlType[type]]: 15, F32: 5 });
    // Chunks of 100 elements: rows split across chunks, several chunks per row.
    await convertModel(hf, b, { type: name, chunkElements: 100 });
    expect(same(readFileSync(a), readFileSync(b))).toBe(true);
    const f = await open(a);
    try {
      expect(f.g.metadata.get('general.file_type')).toBe({ bf16: 32, f16: 1, q8_0: 7, q4_0: 2, q5_1: 9 }[name]);
      for (const spec of specs) expect(same(await f.bytes(spec.name), expected(spec, type)), spec.name).toBe(true);
    } finally {
      await f.close();
    }
  });

  it('worker threads write the same bytes as the calling thread', async () => {
    const a = path.join(dir, 'q4km-1.gguf'), b = path.join(dir, 'q4km-2.gguf');
    expect((await convertModel(hf, a, { type: 'q4_k_m', threads: 1 })).threads).toBe(1);
    expect((await convertModel(hf, b, { type: 'q4_k_m', threads: 2, chunkElements: 4096 })).threads).toBe(2);
    expect(same(readFileSync(a), readFileSync(b))).toBe(true);
  });

  it('BF16 source to BF16: matrices are copied as they are', async () => {
    const bfDir = await writeHfModel(path.join(dir, 'hf-bf16'), config, weights, { type: GgmlType.BF16 });
    const out = path.join(dir, 'bf16-from-bf16.gguf');
    await convertModel(bfDir, out, { type: 'bf16' });
    const rounded = (s: TensorSpec) => Float32Array.from(weights(s), (v) => {
      const b = f32ToBf16(v);
      return new Float32Array(new Uint32Array([b << 16]).buffer)[0]!;
    });
    const f = await open(out);
    try {
      for (const spec of specs) expect(same(await f.bytes(spec.name), expected(spec, GgmlType.BF16, rounded)), spec.name).toBe(true);
    } finally {
      await f.close();
    }
  });

  it('from a GGUF: metadata and tokenizer carried over, norms kept, tensors re-encoded', async () => {
    const f32 = path.join(dir, 'f32.gguf');
    const q8 = path.join(dir, 'q8_0.gguf');
    const again = path.join(dir, 'q8_0-from-gguf.gguf');
    const warnings: string[] = [];
    await convertModel(f32, again, { type: 'q8_0', onWarning: (m) => warnings.push(m) });
    expect(warnings).toEqual([]);
    // HF → F32 GGUF → Q8_0 is the same file as HF → Q8_0: metadata (general.name comes from the
    // source GGUF), tokenizer and tensors.
    expect(same(readFileSync(again), readFileSync(q8))).toBe(true);
    // Back to F32: exact dequantization, no warning; to Q4_0: a second rounding, with a warning.
    await convertModel(q8, path.join(dir, 'f32-from-q8.gguf'), { type: 'f32', onWarning: (m) => warnings.push(m) });
    expect(warnings).toEqual([]);
    await convertModel(q8, path.join(dir, 'q4-from-q8.gguf'), { type: 'q4_0', name: 'twice', onWarning: (m) => warnings.push(m) });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/re-encoding 15 quantized tensor\(s\) \(e\.g\. Q8_0 → Q4_0\)/);
  });

  it('presets choose llama.cpp\'s types; small rows fall back as llama.cpp does', async () => {
    const out = path.join(dir, 'q4_k_m.gguf');
    const r = await convertModel(hf, out, { type: 'q4_k_m' });
    // Rows of 64 and 128: Q4_K → Q5_0, Q6_K → Q8_0 (embedding, attn_v and ffn_down of layer 1).
    expect(r.types).toEqual({ Q8_0: 3, Q5_0: 12, F32: 5 });
    const f = await open(out);
    try {
      expect(f.g.metadata.get('general.file_type')).toBe(15);
      expect(f.g.metadata.get('general.quantization_version')).toBe(2);
      const typeOf = (n: string) => GgmlType[f.g.tensors.find((t) => t.name === n)!.type];
      expect([typeOf('token_embd.weight'), typeOf('blk.0.attn_v.weight'), typeOf('blk.1.attn_v.weight'), typeOf('blk.1.ffn_down.weight')])
        .toEqual(['Q8_0', 'Q5_0', 'Q8_0', 'Q8_0']);
    } finally {
      await f.close();
    }
  });
});
