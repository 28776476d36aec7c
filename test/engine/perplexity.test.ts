/**
 * Perplexity as llama.cpp's perplexity tool defines it (windows of n_ctx tokens, <bos> first,
 * second half scored), against llama.cpp's own log-probabilities on an F32 GGUF of a tiny random
 * model. llama.cpp (through node-llama-cpp) has no perplexity entry point, so its figure is
 * computed here with the tool's definition from its teacher-forced log-probabilities per window.
 */
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { GgmlType } from '../../src/formats/ggml-types.js';
import { generateTokens } from '../../src/engine/generate.js';
import { loadModel, type Model } from '../../src/engine/model.js';
import { perplexity, tokenNll } from '../../src/engine/perplexity.js';
import { loadRef } from '../helpers/load.js';
import { llamaTeacherForced } from '../helpers/llama-oracle.js';
import { randomWeights, tinyConfig, tmpDir, writeTinyGguf } from '../helpers/tiny-models.js';

const config = tinyConfig();
const V = config.vocabSize;
const N_CTX = 64;

/** llama.cpp's definition over given per-position log-probabilities (one array per window). */
function pplFrom(windows: number[][], logprobs: (w: number, pos: number) => ArrayLike<number>): { ppl: number; count: number } {
  let nll = 0, count = 0;
  windows.forEach((w, i) => {
    for (let j = w.length / 2; j < w.length - 1; j++) {
      nll -= logprobs(i, j)[w[j + 1]];
      count++;
    }
  });
  return { ppl: Math.exp(nll / count), count };
}

describe('perplexity', () => {
  const file = path.join(tmpDir(), 'tiny-f32.gguf');
  let model: Model;
  let ids: number[];
  let windows: number[][];

  beforeAll(async () => {
    await writeTinyGguf(file, config, randomWeights(config, { seed: 21 }), GgmlType.F32);
    model = await loadModel(file);
    // A text the model finds neither trivial nor random: its own samples at temperature 1.
    const s = model.createSession();
    const it = generateTokens(s, model.tokenizer, [2, 17, 300, 41], { temperature: 1, topK: 0, topP: 1, minP: 0, seed: 4, maxTokens: 3 * N_CTX + 20, ignoreEos: true });
    let r = await it.next();
    while (!r.done) r = await it.next();
    ids = [2, 17, 300, 41, ...r.value.tokens];
    windows = [0, 1, 2].map((c) => [2, ...ids.slice(c * N_CTX + 1, (c + 1) * N_CTX)]);
  });

  it('windows, <bos>, second half: the definition, checked against a plain teacher-forced pass', async () => {
    const res = await model.perplexity(ids, { contextSize: N_CTX });
    expect(res).toMatchObject({ tokens: ids.length, chunks: 3, contextSize: N_CTX, scored: 3 * (N_CTX - N_CTX / 2 - 1), aborted: false });
    expect(res.runningPpl).toHaveLength(3);
    expect(res.runningPpl[2]).toBe(res.ppl);
    const { session } = await loadRef(file);
    const rows: Float32Array[] = [];
    for (const w of windows) rows.push(await session().eval(w, { allLogits: true }));
    const ref = pplFrom(windows, (i, j) => {
      const row = rows[i].subarray(j * V, (j + 1) * V);
      const out = new Float64Array(V);
      for (let t = 0; t < V; t++) out[t] = -tokenNll(row, t);
      return out;
    });
    expect(ref.count).toBe(res.scored);
    expect(Math.abs(res.ppl / ref.ppl - 1)).toBeLessThan(1e-5);
    expect(res.ppl).toBeGreaterThan(1);
    expect(res.uncertainty).toBeGreaterThan(0);
  });

  it('is within 1% of llama.cpp on the same F32 GGUF', async () => {
    const res = await model.perplexity(ids, { contextSize: N_CTX });
    const lp: Float32Array[][] = [];
    for (const w of windows) lp.push(await llamaTeacherForced(file, w, V, N_CTX));
    const llama = pplFrom(windows, (i, j) => lp[i][j]);
    const rel = Math.abs(res.ppl / llama.ppl - 1);
    console.log(`perplexity (n_ctx ${N_CTX}, ${res.scored} tokens): ours ${res.ppl.toFixed(4)}, llama.cpp ${llama.ppl.toFixed(4)}, relative difference ${rel.toExponential(2)}`);
    expect(rel).toBeLessThan(0.01);
  });

  it('bad input: too few tokens, bad sizes, ids outside the vocabulary', async () => {
    await expect(model.perplexity(ids.slice(0, 100), { contextSize: N_CTX })).rejects.toThrow(
      /perplexity with a context of 64 tokens needs at least 128 tokens; the input has 100/);
    await expect(model.perplexity(ids, { contextSize: 2 })).rejects.toThrow(/context size must be an integer ≥ 4/);
    await expect(model.perplexity(ids, { contextSize: 9000 })).rejects.toThrow(/context size 9000 exceeds the model's context length \(8192\)/);
    await expect(model.perplexity([...ids.slice(0, 130), V], { contextSize: N_CTX })).rejects.toThrow(/token id 512 at index 130 is outside/);
    const { session } = await loadRef(file);
    const one = await perplexity(session(), ids, { contextSize: N_CTX, maxChunks: 1, bosId: 2 });
    expect(one.chunks).toBe(1);
  });
});
