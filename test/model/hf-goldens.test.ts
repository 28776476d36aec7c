import { describe, expect, it } from 'vitest';
import { argmax } from '../../src/sampling/sampler.js';
import { loadGoldens, maxAbsDiff, TINY_MQA } from '../helpers/goldens.js';
import { loadRef } from '../helpers/load.js';

// Agreement with Hugging Face transformers (float32, eager attention) on the tiny MQA fixture.
const TOL = 1e-3;

describe('HF goldens: hf-tiny-mqa', async () => {
  const goldens = loadGoldens();
  const { model, session } = await loadRef(TINY_MQA);
  const vocab = model.config.vocabSize;

  it.each(goldens.map((g, i) => [i, g] as const))('case %i: all positions in one eval', async (_i, g) => {
    const s = session();
    const logits = await s.eval(g.ids, { allLogits: true });
    expect(logits.length).toBe(g.ids.length * vocab);
    expect(maxAbsDiff(logits, g.logits)).toBeLessThan(TOL);
    expect(s.length).toBe(g.ids.length);
  });

  it.each(goldens.map((g, i) => [i, g] as const))('case %i: token by token', async (_i, g) => {
    const s = session();
    for (let t = 0; t < g.ids.length; t++) {
      const row = await s.eval([g.ids[t]]);
      expect(maxAbsDiff(row, g.logits.subarray(t * vocab, (t + 1) * vocab))).toBeLessThan(TOL);
    }
  });

  it.each(goldens.map((g, i) => [i, g] as const))('case %i: greedy continuation', async (_i, g) => {
    const s = session();
    let logits = await s.eval(g.ids);
    const out: number[] = [];
    for (let k = 0; k < g.greedy.length; k++) {
      const next = argmax(logits);
      out.push(next);
      logits = await s.eval([next]);
    }
    expect(out).toEqual(g.greedy);
  });
});
