import { describe, expect, it } from 'vitest';
import { argmax, filterCandidates, sample, SAMPLING_DEFAULTS } from '../../src/sampling/sampler.js';
import { Rng } from '../../src/sampling/rng.js';

const logits = Float32Array.from([1, 3, 2, 3, -1, 0.5]);

describe('sampler', () => {
  it('greedy is argmax with the lowest id on ties', () => {
    expect(argmax(logits)).toBe(1);
    expect(sample(logits, { temperature: 0 }, new Rng(1))).toBe(1);
    expect(sample(logits, { temperature: 1, topK: 1 }, new Rng(1))).toBe(1);
  });

  it('top-k keeps the k largest, sorted, ties by id', () => {
    const c = filterCandidates(logits, { ...SAMPLING_DEFAULTS, topK: 3, topP: 1, minP: 0 });
    expect(c.map((x) => x.id)).toEqual([1, 3, 2]);
  });

  it('top-p keeps the smallest prefix reaching p (probabilities at temperature 1)', () => {
    // softmax([3, 3, 2, 1, 0.5, -1]) ≈ [.3841, .3841, .1413, .0520, .0315, .0070]
    const c = filterCandidates(logits, { ...SAMPLING_DEFAULTS, topK: 0, topP: 0.8, minP: 0 });
    expect(c.map((x) => x.id)).toEqual([1, 3, 2]);
    const d = filterCandidates(logits, { ...SAMPLING_DEFAULTS, topK: 0, topP: 0.7, minP: 0 });
    expect(d.map((x) => x.id)).toEqual([1, 3]);
  });

  it('min-p drops candidates below p_max · minP', () => {
    const c = filterCandidates(logits, { ...SAMPLING_DEFAULTS, topK: 0, topP: 1, minP: 0.1 });
    expect(c.map((x) => x.id)).toEqual([1, 3, 2, 0]); // .0520 ≥ .0384 > .0315
  });

  it('the same seed gives the same draws; frequencies follow the distribution', () => {
    const o = { temperature: 1, topK: 0, topP: 1, minP: 0 };
    const a = Array.from({ length: 50 }, ((r) => () => sample(logits, o, r))(new Rng(9)));
    const b = Array.from({ length: 50 }, ((r) => () => sample(logits, o, r))(new Rng(9)));
    expect(a).toEqual(b);
    const counts = new Array(6).fill(0);
    const r = new Rng(5);
    const n = 20000;
    for (let i = 0; i < n; i++) counts[sample(logits, o, r)]++;
    const z = logits.reduce((s, x) => s + Math.exp(x), 0);
    for (let i = 0; i < 6; i++) expect(Math.abs(counts[i] / n - Math.exp(logits[i]) / z)).toBeLessThan(0.015);
  });

  it('temperature sharpens after filtering', () => {
    const o = { temperature: 0.05, topK: 3, topP: 1, minP: 0 };
    const r = new Rng(2);
    const seen = new Set(Array.from({ length: 200 }, () => sample(logits, o, r)));
    expect([...seen].sort()).toEqual([1, 3]);
  });
});
