/**
 * Each sampler stage on hand-made logits, with outcomes worked out by hand (llama.cpp's
 * semantics: src/llama-sampling.cpp), and the chain's order.
 */
import { describe, expect, it } from 'vitest';
import {
  applyLogitBias, applyPenalties, draw, filterCandidates, minP, penaltyCounts, resolveSampling, sample,
  SAMPLING_DEFAULTS, topK, topP, typicalP, type Candidate,
} from '../../src/sampling/sampler.js';
import { Rng } from '../../src/sampling/rng.js';
import { GemmaError } from '../../src/errors.js';

const OFF = { ...SAMPLING_DEFAULTS, topK: 0, topP: 1, minP: 0, typicalP: 1 };

/** An Rng whose next() returns the given values in turn. */
function fixedRng(...values: number[]): Rng {
  const r = new Rng(0);
  let i = 0;
  r.next = () => values[i++ % values.length];
  return r;
}

const ids = (c: Candidate[]) => c.map((x) => x.id);

describe('sampler stages', () => {
  it('defaults are llama.cpp\'s CLI defaults', () => {
    expect(SAMPLING_DEFAULTS).toEqual({
      temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, typicalP: 1,
      repeatPenalty: 1, repeatLastN: 64, presencePenalty: 0, frequencyPenalty: 0,
    });
  });

  it('logit bias adds to the named tokens; -Infinity bans one', () => {
    const l = Float32Array.from([1, 3, 2, 3, -1, 0.5]);
    applyLogitBias(l, [[0, 0.5], [4, 10]]);
    expect([...l]).toEqual([1.5, 3, 2, 3, 9, 0.5]);
    const logits = Float32Array.from([1, 3, 2, 3, -1, 0.5]);
    expect(sample(logits, { temperature: 0, logitBias: { 4: 10 } }, new Rng(1))).toBe(4);
    expect(sample(logits, { temperature: 0, logitBias: new Map([[1, -Infinity]]) }, new Rng(1))).toBe(3);
    expect([...logits]).toEqual([1, 3, 2, 3, -1, 0.5]); // the input row is never modified
  });

  it('penalties: counts over the last N tokens; repeat divides positive and multiplies negative logits', () => {
    const history = [4, 1, 1, 5, 2];
    expect([...penaltyCounts(history, 64)]).toEqual([[4, 1], [1, 2], [5, 1], [2, 1]]);
    expect([...penaltyCounts(history, 2)]).toEqual([[5, 1], [2, 1]]);
    expect([...penaltyCounts(history, 0)]).toEqual([]);
    expect([...penaltyCounts(history, -1)]).toEqual([...penaltyCounts(history, 64)]);

    const l = Float32Array.from([1, 3, 2, 3, -1, 0.5]);
    applyPenalties(l, penaltyCounts(history, 64), { repeatPenalty: 2, presencePenalty: 0, frequencyPenalty: 0 });
    expect([...l]).toEqual([1, 1.5, 1, 3, -2, 0.25]);

    const f = Float32Array.from([1, 3, 2, 3, -1, 0.5]);
    applyPenalties(f, penaltyCounts(history, 64), { repeatPenalty: 1, presencePenalty: 0.25, frequencyPenalty: 0.5 });
    // id 1 seen twice: 3 − 2·0.5 − 0.25; ids 2, 4, 5 once: −0.5 − 0.25.
    expect([...f]).toEqual([1, 1.75, 1.25, 3, -1.75, -0.25]);
  });

  it('penalties come before top-k and act on the sequence given as history', () => {
    const logits = Float32Array.from([1, 3, 2, 3, -1, 0.5]);
    const o = { temperature: 0, repeatPenalty: 4 };
    expect(sample(logits, o, new Rng(1), [])).toBe(1);
    expect(sample(logits, o, new Rng(1), [1])).toBe(3);
    expect(sample(logits, o, new Rng(1), [1, 3])).toBe(2); // 3/4 < 2
    expect(sample(logits, { ...o, repeatLastN: 1 }, new Rng(1), [1, 3])).toBe(1);
    expect(sample(logits, { ...o, repeatLastN: 0 }, new Rng(1), [1, 3])).toBe(1);
    // With top-k 1 after the penalties, the survivor is the penalised chain's best.
    expect(sample(logits, { temperature: 1, topK: 1, repeatPenalty: 4 }, new Rng(1), [1, 3])).toBe(2);
  });

  it('top-k keeps the k largest, sorted, ties by id', () => {
    const l = [1, 3, 2, 3, -1, 0.5];
    expect(ids(topK(l, 3))).toEqual([1, 3, 2]);
    expect(ids(topK(l, 0))).toEqual([1, 3, 2, 0, 5, 4]);
    expect(ids(topK(l, 10))).toEqual([1, 3, 2, 0, 5, 4]);
  });

  it('typical-p keeps the tokens whose surprise is nearest the entropy, and may drop the top token', () => {
    // logits [1, 0 ×6]: p0 = e/(e+6) = .3118, others .1147; −ln p = 1.165 / 2.165; entropy 1.854.
    // |surprise − H|: token 0 → .688, others → .312, so the six tail tokens come first.
    const l = [1, 0, 0, 0, 0, 0, 0];
    expect(ids(typicalP(topK(l, 0), 0.5))).toEqual([1, 2, 3, 4, 5]); // .1147·5 = .574 > .5
    expect(ids(typicalP(topK(l, 0), 0.6))).toEqual([1, 2, 3, 4, 5, 6]); // .688 > .6
    expect(ids(typicalP(topK(l, 0), 0.9))).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(ids(typicalP(topK(l, 0), 1))).toEqual([0, 1, 2, 3, 4, 5, 6]);
    // Greedy after typical-p picks the best survivor, as llama.cpp's chain does.
    expect(sample(Float32Array.from(l), { temperature: 0, typicalP: 0.5 }, new Rng(1))).toBe(1);
    expect(sample(Float32Array.from(l), { temperature: 0 }, new Rng(1))).toBe(0);
  });

  it('top-p keeps the shortest prefix reaching p, renormalised over the survivors of top-k', () => {
    // softmax([3, 3, 2, 1, 0.5, −1]) ≈ [.3841, .3841, .1413, .0520, .0315, .0070]: two reach .7682
    const l = [1, 3, 2, 3, -1, 0.5];
    expect(ids(topP(topK(l, 0), 0.768))).toEqual([1, 3]);
    expect(ids(topP(topK(l, 0), 0.769))).toEqual([1, 3, 2]);
    expect(ids(topP(topK(l, 0), 0))).toEqual([1]);
    // After top-k 3: softmax([3, 3, 2]) = [.4223, .4223, .1554]: two reach .8446.
    expect(ids(topP(topK(l, 3), 0.844))).toEqual([1, 3]);
    expect(ids(topP(topK(l, 3), 0.845))).toEqual([1, 3, 2]);
    expect(ids(topP(topK(l, 0), 0.844))).toEqual([1, 3, 2]);
  });

  it('min-p keeps logits ≥ max + ln(minP), i.e. p ≥ minP · p_max', () => {
    const l = [1, 3, 2, 3, -1, 0.5];
    expect(ids(minP(topK(l, 0), 0.1))).toEqual([1, 3, 2, 0]); // e^(1−3) = .135 ≥ .1 > e^(0.5−3) = .082
    expect(ids(minP(topK(l, 0), 0.14))).toEqual([1, 3, 2]);
    expect(ids(minP(topK(l, 0), 1))).toEqual([1, 3]);
    // The fast path without top-k (min-p bounds the sort) agrees with the stage-by-stage chain.
    for (const [p, m] of [[0.9, 0.1], [0.5, 0.01], [1, 0.2], [0.95, 0.05]]) {
      const fast = filterCandidates(l, { ...OFF, topP: p, minP: m });
      expect(ids(fast)).toEqual(ids(minP(topP(topK(l, 0), p), m)));
    }
  });

  it('temperature scales logits for the draw only, after filtering', () => {
    const c = () => [{ id: 7, logit: 1, p: 0 }, { id: 9, logit: 0, p: 0 }];
    // T = 0.5: softmax([2, 0]) = [.8808, .1192]; T = 2: softmax([.5, 0]) = [.6225, .3775].
    expect(draw(c(), 0.5, fixedRng(0.85))).toBe(7);
    expect(draw(c(), 0.5, fixedRng(0.89))).toBe(9);
    expect(draw(c(), 2, fixedRng(0.6))).toBe(7);
    expect(draw(c(), 2, fixedRng(0.63))).toBe(9);
    // Filters look at temperature-1 probabilities: min-p 0.2 keeps [3, 3, 2] (e^−1 = .37),
    // whatever the temperature; a hot draw can then land on id 2 but never on id 0.
    const l = Float32Array.from([1, 3, 2, 3, -1, 0.5]);
    const seen = new Set(Array.from({ length: 300 }, ((r) => () => sample(l, { temperature: 50, topK: 0, topP: 1, minP: 0.2 }, r))(new Rng(3))));
    expect([...seen].sort()).toEqual([1, 2, 3]);
  });

  it('the chain runs bias → penalties → top-k → typical → top-p → min-p → temperature', () => {
    // Bias lifts token 4 to the top; the penalty then pushes it back below 1 and 3.
    const l = Float32Array.from([1, 3, 2, 3, -1, 0.5]);
    const o = { temperature: 0, logitBias: { 4: 5 }, repeatPenalty: 8 };
    expect(sample(l, o, new Rng(1), [])).toBe(4);
    expect(sample(l, o, new Rng(1), [4])).toBe(1); // (−1 + 5) / 8 = 0.5
  });

  it('bad options are GemmaErrors naming the option', () => {
    const l = Float32Array.from([0, 1]);
    const bad: [object, RegExp][] = [
      [{ temperature: -1 }, /temperature must be ≥ 0/],
      [{ temperature: NaN }, /temperature must be a finite number/],
      [{ topK: 1.5 }, /topK must be a non-negative integer/],
      [{ topP: 1.5 }, /topP must be in \[0, 1\]/],
      [{ typicalP: -0.1 }, /typicalP must be in \[0, 1\]/],
      [{ minP: 2 }, /minP must be in \[0, 1\]/],
      [{ repeatPenalty: 0 }, /repeatPenalty must be > 0/],
      [{ repeatLastN: -2 }, /repeatLastN must be an integer ≥ -1/],
      [{ logitBias: { 5: 1 } }, /logitBias: token id 5 is outside the vocabulary \(0\.\.1\)/],
      [{ logitBias: { 1: NaN } }, /logitBias: the bias of token 1 must be/],
      [{ logitBias: 'x' }, /logitBias must be an object/],
    ];
    for (const [o, re] of bad) {
      expect(() => sample(l, o, new Rng(1))).toThrow(GemmaError);
      expect(() => resolveSampling(o, 2)).toThrow(re);
    }
  });
});
