/**
 * Bad checkpoints get a one-line GemmaError that names the problem, before anything large is
 * allocated: missing path, folder without config, truncated file, non-Gemma GGUF, missing
 * tensor, wrong shape, unsupported dtype, header counts larger than the file, a quantized block
 * with a non-finite scale.
 */
import { copyFileSync, mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GemmaError } from '../../src/errors.js';
import { GgmlType } from '../../src/formats/ggml-types.js';
import { gguf, writeGguf } from '../../src/formats/gguf-writer.js';
import { writeGemmaGguf, writeGemmaHf } from '../../src/model/export.js';
import { openCheckpoint } from '../../src/model/checkpoint.js';
import { gemmaTensorSpecs } from '../../src/model/tensor-names.js';
import { loadRef } from '../helpers/load.js';
import { randomWeights, tinyConfig, tmpDir, writeTinyGguf } from '../helpers/tiny-models.js';
import { loadModel } from '../../src/engine/model.js';
import { findGgufTensor, readGguf } from '../../src/formats/gguf.js';
import { openFileSource } from '../../src/formats/file-source.js';

const config = tinyConfig({ vocabSize: 300 });
const weights = randomWeights(config);

async function expectError(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err, 'expected an error').toBeInstanceOf(GemmaError);
  const msg = (err as Error).message;
  expect(msg).toMatch(pattern);
  expect(msg).not.toContain('\n');
}

describe('bad checkpoints', () => {
  const dir = tmpDir();

  it('missing path', async () => {
    await expectError(loadRef(path.join(dir, 'nope')), /no such file or directory: .*nope/);
  });

  it('directory without config.json', async () => {
    const d = path.join(dir, 'empty');
    mkdirSync(d);
    await expectError(loadRef(d), /directory has no config\.json/);
  });

  it('config.json that is not JSON, or not Gemma 1', async () => {
    const d = path.join(dir, 'badcfg');
    await writeGemmaHf(d, config, weights);
    writeFileSync(path.join(d, 'config.json'), '{ nope');
    await expectError(loadRef(d), /config\.json: not valid JSON/);
    writeFileSync(path.join(d, 'config.json'), JSON.stringify({ model_type: 'gemma2', hidden_size: 64 }));
    await expectError(loadRef(d), /model_type is "gemma2".*only Gemma 1/);
    writeFileSync(path.join(d, 'config.json'), JSON.stringify({ model_type: 'gemma', vocab_size: 300, hidden_size: 64 }));
    await expectError(loadRef(d), /field num_attention_heads is missing or not a number/);
  });

  it('truncated safetensors and GGUF files', async () => {
    const d = path.join(dir, 'trunc');
    await writeGemmaHf(d, config, weights);
    const st = path.join(d, 'model.safetensors');
    truncateSync(st, readFileSync(st).length - 1000);
    await expectError(loadRef(d), /model\.safetensors.*(truncated|beyond|outside|larger than the file)/);
    const g = path.join(dir, 'trunc.gguf');
    await writeGemmaGguf(g, config, weights);
    truncateSync(g, readFileSync(g).length - 1000);
    await expectError(loadRef(g), /trunc\.gguf.*(truncated|beyond|outside|larger than the file)/);
    truncateSync(g, 100);
    await expectError(loadRef(g), /trunc\.gguf/);
  });

  it('GGUF of another architecture', async () => {
    const g = path.join(dir, 'llama.gguf');
    await writeGguf(g, [gguf.str('general.architecture', 'llama'), gguf.u32('llama.block_count', 2)], []);
    await expectError(loadRef(g), /general\.architecture is "llama", expected "gemma"/);
  });

  it('missing tensor (HF and GGUF names)', async () => {
    const d = path.join(dir, 'missing');
    await writeGemmaHf(d, config, weights);
    const g = path.join(dir, 'missing.gguf');
    await writeGemmaGguf(g, { ...config, numLayers: 1 }, weights);
    writeFileSync(path.join(d, 'config.json'), JSON.stringify({
      ...JSON.parse(readFileSync(path.join(d, 'config.json'), 'utf8')), num_hidden_layers: 3,
    }));
    await expectError(loadRef(d), /missing tensor model\.layers\.2\.input_layernorm\.weight/);
    // A GGUF claiming 3 blocks with tensors for 1.
    const specs = gemmaTensorSpecs({ ...config, numLayers: 1 });
    const g2 = path.join(dir, 'missing2.gguf');
    await writeGguf(g2, [gguf.str('general.architecture', 'gemma'), gguf.u32('gemma.block_count', 3),
      gguf.u32('gemma.embedding_length', 64), gguf.u32('gemma.feed_forward_length', 128),
      gguf.u32('gemma.attention.head_count', 4), gguf.u32('gemma.attention.head_count_kv', 1),
      gguf.u32('gemma.attention.key_length', 16), gguf.u32('gemma.attention.value_length', 16)],
    specs.map((s) => ({ name: s.name, shape: s.shape, type: GgmlType.F32, data: new Uint8Array(weights(s).buffer.slice(0)) })));
    await expectError(loadRef(g2), /missing tensor blk\.1\.attn_norm\.weight/);
  });

  it('wrong shape', async () => {
    const d = path.join(dir, 'shape');
    await writeGemmaHf(d, config, weights);
    const cfg = JSON.parse(readFileSync(path.join(d, 'config.json'), 'utf8'));
    writeFileSync(path.join(d, 'config.json'), JSON.stringify({ ...cfg, intermediate_size: 256 }));
    await expectError(loadRef(d), /tensor model\.layers\.0\.mlp\.gate_proj\.weight: expected shape \[256, 64\], file has \[128, 64\]/);
  });

  it('unsupported dtype', async () => {
    const d = path.join(dir, 'dtype');
    await writeGemmaHf(d, config, weights);
    const f = path.join(d, 'model.safetensors');
    const bytes = readFileSync(f);
    const n = Number(bytes.readBigUInt64LE(0));
    const header = bytes.subarray(8, 8 + n).toString('utf8');
    // Relabel the embedding F32 → I32 (same size): a dtype Gemma weights never use.
    const patched = header.replace(/("model\.embed_tokens\.weight":\{"dtype":")F32/, '$1I32');
    expect(patched).not.toBe(header);
    writeFileSync(f, Buffer.concat([bytes.subarray(0, 8), Buffer.from(patched), bytes.subarray(8 + n)]));
    await expectError(loadRef(d), /tensor model\.embed_tokens\.weight in model\.safetensors: unsupported dtype I32/);
  });

  it.each([
    ['Q4_0', GgmlType.Q4_0, 18, 0, 0x7e00],
    ['Q8_0', GgmlType.Q8_0, 34, 0, 0x7c00],
    ['Q4_K (dmin)', GgmlType.Q4_K, 144, 2, 0xfc00],
    ['Q6_K', GgmlType.Q6_K, 210, 208, 0x7d01],
  ])('a %s block with a non-finite float16 scale', async (_label, type, blockBytes, field, bits) => {
    // Q4_K / Q6_K blocks span 256 elements: a wider model so that every matrix row holds one.
    const c = type === GgmlType.Q4_K || type === GgmlType.Q6_K ? tinyConfig({ vocabSize: 300, hiddenSize: 256, intermediateSize: 512, headDim: 64 }) : config;
    const f = await writeTinyGguf(path.join(dir, `bad-scale-${type}.gguf`), c, randomWeights(c), type);
    const src = await openFileSource(f);
    const info = findGgufTensor(await readGguf(src), 'blk.1.ffn_up.weight')!;
    await src.close();
    expect(info.type).toBe(type);
    const perRow = info.shape[info.shape.length - 1] / (blockBytes === 18 || blockBytes === 34 ? 32 : 256);
    const block = 2 * perRow + 1; // row 2, block 1 (row 3 when a row holds one block)
    const bytes = readFileSync(f);
    bytes.writeUInt16LE(bits, info.offset + block * blockBytes + field);
    writeFileSync(f, bytes);
    const want = new RegExp(`tensor blk\\.1\\.ffn_up\\.weight.*: block ${block % perRow} of row ${Math.floor(block / perRow)} has a non-finite float16 scale \\(0x${bits.toString(16)}\\)`);
    await expectError(loadRef(f), want);
    await expectError(loadModel(f, { threads: 2 }), want);
  });

  it('header counts larger than the file', async () => {
    const g = path.join(dir, 'counts.gguf');
    await writeGemmaGguf(g, config, weights);
    const b = readFileSync(g);
    b.writeBigUInt64LE(10n ** 12n, 8); // tensor count
    writeFileSync(g, b);
    await expectError(openCheckpoint(g), /tensor count .* larger than the file allows/);
    const st = path.join(dir, 'counts.safetensors');
    copyFileSync(path.join(dir, 'dtype', 'model.safetensors'), st);
    const s = readFileSync(st);
    s.writeBigUInt64LE(10n ** 12n, 0); // header length
    writeFileSync(st, s);
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'gemma', vocab_size: 300, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4 }));
    await expectError(loadRef(st), /counts\.safetensors.*header/);
  });

  it('token ids outside the vocabulary and empty evals', async () => {
    const d = path.join(dir, 'ok');
    await writeGemmaHf(d, config, weights);
    const { session } = await loadRef(d);
    const s = session();
    await expect(s.eval([2, 300])).rejects.toThrow(/token id 300 at index 1 is outside the vocabulary \(0\.\.299\)/);
    await expect(s.eval([])).rejects.toThrow(/at least one token/);
    await expect(s.eval([2.5])).rejects.toThrow(/outside the vocabulary/);
    expect(s.length).toBe(0);
    await s.eval([2, 5]);
    expect(s.length).toBe(2);
  });
});
