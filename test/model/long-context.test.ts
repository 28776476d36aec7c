/**
 * A full 8192-token context fed in chunks of uneven sizes gives the same logits as one pass,
 * and the last positions agree with llama.cpp (RoPE angles at position 8191 must be precise:
 * a bf16 or float32 position×frequency product visibly moves them).
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GgmlType } from '../../src/formats/ggml-types.js';
import { Rng } from '../../src/sampling/rng.js';
import { maxAbsDiff } from '../helpers/goldens.js';
import { loadRef } from '../helpers/load.js';
import { llamaTeacherForced, maxDiffUpToOffset } from '../helpers/llama-oracle.js';
import { randomWeights, tinyConfig, tmpDir, writeTinyGguf } from '../helpers/tiny-models.js';

const N = 8192;

describe('8192-token context', () => {
  const config = tinyConfig({ numLayers: 1, numHeads: 2, numKvHeads: 1, headDim: 32, hiddenSize: 64, vocabSize: 300 });
  const rng = new Rng(3);
  const ids = [2, ...Array.from({ length: N - 1 }, () => 4 + Math.floor(rng.next() * (config.vocabSize - 4)))];
  const file = path.join(tmpDir(), 'long.gguf');
  const V = config.vocabSize;

  it('chunked prefill equals a single pass; the context then refuses more tokens', async () => {
    await writeTinyGguf(file, config, randomWeights(config, { seed: 11 }), GgmlType.F32);
    const { session } = await loadRef(file);
    const whole = await session().eval(ids, { allLogits: true });
    const s = session();
    const sizes = [1, 7, 256, 1000, 3, 511, 2048, 1];
    let pos = 0, k = 0;
    while (pos < N) {
      const n = Math.min(sizes[k++ % sizes.length], N - pos);
      const part = await s.eval(ids.slice(pos, pos + n), { allLogits: true });
      expect(maxAbsDiff(part, whole.subarray(pos * V, (pos + n) * V))).toBeLessThan(1e-4);
      pos += n;
    }
    expect(s.length).toBe(N);
    await expect(s.eval([5])).rejects.toThrow(/context is full/);
  });

  it('the last positions agree with llama.cpp', async () => {
    const want = new Set([N - 3, N - 2, N - 1]);
    // node-llama-cpp shifts the context when a sequence fills it: give it room to spare.
    const ref = await llamaTeacherForced(file, ids, V, N + 256, want);
    const { session } = await loadRef(file);
    const s = session();
    await s.eval(ids.slice(0, N - 3));
    const ours = await s.eval(ids.slice(N - 3), { allLogits: true });
    for (let i = 0; i < 3; i++) expect(maxDiffUpToOffset(ours.subarray(i * V, (i + 1) * V), ref[i])).toBeLessThan(1e-2);
  });
});
