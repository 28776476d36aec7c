/** Several sequences in one forward pass give the same logits as each run alone. */
import { describe, expect, it } from 'vitest';
import { KvCache } from '../../src/model/kv-cache.js';
import { maxAbsDiff, TINY_MQA } from '../helpers/goldens.js';
import { loadRef } from '../helpers/load.js';

describe('forwardBatch', () => {
  it('mixes prefill chunks and decode steps of independent sequences', async () => {
    const { model, session } = await loadRef(TINY_MQA);
    const prompts = [[2, 10, 11, 12], [2, 500, 501], [2, 7]];
    const caches = prompts.map(() => new KvCache(model.backend, model.config, 64));
    // Alone: each prompt, then two more tokens.
    const alone: Float32Array[][] = [];
    for (const p of prompts) {
      const s = session(64);
      alone.push([await s.eval(p), await s.eval([42]), await s.eval([43])]);
    }
    // Together: all prompts in one pass, then decode steps for all at once.
    caches.forEach((c, i) => c.reserve(prompts[i].length + 2, 0));
    const step0 = await model.forwardBatch(prompts.map((p, i) => ({ cache: caches[i], ids: Int32Array.from(p), startPos: 0 })));
    const step1 = await model.forwardBatch(prompts.map((p, i) => ({ cache: caches[i], ids: Int32Array.of(42), startPos: p.length })));
    const step2 = await model.forwardBatch(prompts.map((p, i) => ({ cache: caches[i], ids: Int32Array.of(43), startPos: p.length + 1 })));
    prompts.forEach((_, i) => {
      expect(maxAbsDiff(step0[i], alone[i][0])).toBeLessThan(1e-5);
      expect(maxAbsDiff(step1[i], alone[i][1])).toBeLessThan(1e-5);
      expect(maxAbsDiff(step2[i], alone[i][2])).toBeLessThan(1e-5);
    });
  });
});
