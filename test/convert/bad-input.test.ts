/**
 * Bad sources and outputs: a one-line GemmaError naming the problem, and no output left
 * behind — neither OUT nor OUT.tmp, and an existing OUT untouched.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { convertModel } from '../../src/convert/convert.js';
import { GemmaError } from '../../src/errors.js';
import { writeSafetensors } from '../../src/formats/safetensors-writer.js';
import { hfConfigJson } from '../../src/model/export.js';
import { canonicalToHf, gemmaTensorSpecs } from '../../src/model/tensor-names.js';
import { randomWeights, tinyConfig, tmpDir } from '../helpers/tiny-models.js';
import { syntheticTokenizerModel, writeHfModel } from './helpers.js';

const config = tinyConfig({ vocabSize: 300 });
const weights = randomWeights(config, { seed: 2 });

async function expectFailure(source: string, out: string, pattern: RegExp, type = 'q8_0'): Promise<void> {
  const err = await convertModel(source, out, { type }).then(() => undefined, (e: unknown) => e);
  expect(err, 'expected an error').toBeInstanceOf(GemmaError);
  expect((err as Error).message).toMatch(pattern);
  expect((err as Error).message).not.toContain('\n');
  expect(existsSync(`${out}.tmp`), 'temporary file left behind').toBe(false);
}

describe('convert: bad input', () => {
  const dir = tmpDir('gemma-convert-bad-');
  const out = path.join(dir, 'out.gguf');
  const copyOf = async (name: string, shardBytes?: number) => writeHfModel(path.join(dir, name), config, weights, { shardBytes });

  it('a shard listed in the index is missing', async () => {
    const hf = await copyOf('missing-listed', 60_000);
    const shards = readdirSync(hf).filter((f) => f.endsWith('.safetensors')).sort();
    expect(shards.length).toBeGreaterThan(2);
    unlinkSync(path.join(hf, shards[1]!));
    await expectFailure(hf, out, new RegExp(`missing shard ${shards[1]!.replace(/\./g, '\\.')}`));
    expect(existsSync(out)).toBe(false);
  });

  it('a shard is missing and there is no index', async () => {
    const hf = await copyOf('missing-unlisted', 60_000);
    const shards = readdirSync(hf).filter((f) => f.endsWith('.safetensors')).sort();
    unlinkSync(path.join(hf, 'model.safetensors.index.json'));
    unlinkSync(path.join(hf, shards.at(-1)!));
    await expectFailure(hf, out, new RegExp(`missing shard ${shards.at(-1)!.replace(/\./g, '\\.')}`));
  });

  it('a tensor in a dtype Gemma checkpoints do not use', async () => {
    const hf = path.join(dir, 'int32');
    mkdirSync(hf);
    await writeSafetensors(path.join(hf, 'model.safetensors'), gemmaTensorSpecs(config).map((s) => {
      const w = weights(s);
      return { name: canonicalToHf(s.name), dtype: s.name === 'blk.1.ffn_up.weight' ? 'I32' : 'F32', shape: s.shape, data: new Uint8Array(w.buffer, w.byteOffset, w.byteLength) };
    }));
    writeFileSync(path.join(hf, 'config.json'), JSON.stringify(hfConfigJson(config, 'F32')));
    writeFileSync(path.join(hf, 'tokenizer.model'), syntheticTokenizerModel(config.vocabSize));
    await expectFailure(hf, out, /tensor model\.layers\.1\.mlp\.up_proj\.weight in model\.safetensors: dtype I32 is not supported \(expected BF16, F16 or F32\)/);
  });

  it('configs that are not Gemma 1', async () => {
    const hf = await copyOf('not-gemma');
    const cfg = path.join(hf, 'config.json');
    const good = JSON.parse(readFileSync(cfg, 'utf8'));
    writeFileSync(cfg, JSON.stringify({ ...good, model_type: 'llama', architectures: ['LlamaForCausalLM'] }));
    await expectFailure(hf, out, /architectures is \["LlamaForCausalLM"\], expected GemmaForCausalLM/);
    writeFileSync(cfg, JSON.stringify({ ...good, model_type: 'gemma2', architectures: undefined }));
    await expectFailure(hf, out, /model_type is "gemma2", expected "gemma" \(gemma2 is a later Gemma generation/);
    writeFileSync(cfg, JSON.stringify({ ...good, num_hidden_layers: undefined }));
    await expectFailure(hf, out, /field num_hidden_layers is missing/);
    writeFileSync(cfg, '{ not json');
    await expectFailure(hf, out, /config\.json: not valid JSON/);
  });

  it('a tensor with the wrong shape or missing', async () => {
    const hf = await copyOf('shape');
    const cfg = path.join(hf, 'config.json');
    writeFileSync(cfg, JSON.stringify({ ...JSON.parse(readFileSync(cfg, 'utf8')), intermediate_size: 256 }));
    await expectFailure(hf, out, /tensor model\.layers\.0\.mlp\.gate_proj\.weight: expected shape \[256, 64\], file has \[128, 64\]/);
    writeFileSync(cfg, JSON.stringify({ ...JSON.parse(readFileSync(cfg, 'utf8')), intermediate_size: 128, num_hidden_layers: 3 }));
    await expectFailure(hf, out, /missing tensor model\.layers\.2\.input_layernorm\.weight/);
  });

  it('no tokenizer and an embedding that is not the Gemma vocabulary', async () => {
    const hf = await copyOf('no-tokenizer');
    unlinkSync(path.join(hf, 'tokenizer.model'));
    await expectFailure(hf, out, /no tokenizer \(tokenizer\.json or tokenizer\.model\) and the embedding has 300 rows, not the 256000 of the bundled Gemma vocabulary/);
  });

  it('a tokenizer whose size differs from the embedding', async () => {
    const hf = await copyOf('tokenizer-size');
    writeFileSync(path.join(hf, 'tokenizer.model'), syntheticTokenizerModel(280));
    await expectFailure(hf, out, /the tokenizer has 280 tokens but the embedding has 300 rows/);
  });

  it('corrupt values: the half-written file is removed and an existing output is left as it was', async () => {
    const hf = path.join(dir, 'nan');
    await writeHfModel(hf, config, (s) => {
      const w = weights(s);
      if (s.name !== 'blk.1.ffn_down.weight') return w;
      const bad = w.slice();
      bad[77] = NaN;
      return bad;
    });
    writeFileSync(out, 'previous contents');
    await expectFailure(hf, out, /tensor blk\.1\.ffn_down\.weight: value NaN is not finite/);
    expect(readFileSync(out, 'utf8')).toBe('previous contents');
    rmSync(out);
    await expectFailure(hf, out, /value NaN is not finite/, 'f16');
    expect(existsSync(out)).toBe(false);
  });

  it('bad outputs, types and sources', async () => {
    const hf = await copyOf('ok');
    await expectFailure(hf, dir, /is a directory; give the output file name/);
    await expectFailure(hf, path.join(dir, 'no', 'such', 'x.gguf'), /does not exist/);
    await expectFailure(hf, out, /unknown type "q3_xs"; expected one of f32, f16, bf16, q8_0/, 'q3_xs');
    await expectFailure(path.join(dir, 'nothing'), out, /no such file or directory/);
    const gguf = path.join(dir, 'model.gguf');
    await convertModel(hf, gguf, { type: 'f32' });
    await expectFailure(gguf, gguf, /the output would overwrite its own source/);
    expect(existsSync(gguf)).toBe(true);
    renameSync(gguf, path.join(dir, 'kept.gguf'));
  });
});
