/**
 * The token loop as people use it: the full sampler chain with seeds, stop strings across token
 * boundaries, logprobs, the context policy, abort, timings. The demo model (real vocabulary,
 * random weights) goes through the public API; the tiny HF fixture (2048-row embedding, bundled
 * vocabulary) drives generateTokens directly where many steps are needed.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/engine/model.js';
import { generateTokens } from '../../src/engine/generate.js';
import type { GenerateOptions } from '../../src/engine/types.js';
import { GemmaError } from '../../src/errors.js';
import { TINY_MQA } from '../helpers/goldens.js';
import { CHAIN, collect } from '../helpers/generation.js';
import { loadDemoModel } from '../helpers/load.js';

describe('the tiny fixture through generateTokens', () => {
  let model: Model;
  const prompt = [2, 651, 1156, 576, 573, 1744]; // ids < 2048
  const run = (o: GenerateOptions) => collect(generateTokens(model.createSession(), model.tokenizer, prompt, o));
  beforeAll(async () => {
    model = await loadModel(TINY_MQA);
  });

  it('a seed reproduces every token with every sampler stage on; other seeds differ', async () => {
    const o = { ...CHAIN, maxTokens: 40, ignoreEos: true };
    const a = await run({ ...o, seed: 7 });
    const b = await run({ ...o, seed: 7 });
    expect(a.result.tokens).toHaveLength(40);
    expect(new Set(a.result.tokens).size).toBeGreaterThan(10);
    expect(b.result.tokens).toEqual(a.result.tokens);
    expect(a.result.seed).toBe(7);
    const others = await Promise.all([8, 9, 123456].map((seed) => run({ ...o, seed })));
    for (const c of others) expect(c.result.tokens).not.toEqual(a.result.tokens);
    // Without a seed, the one reported reproduces the run.
    const free = await run(o);
    expect((await run({ ...o, seed: free.result.seed })).result.tokens).toEqual(free.result.tokens);
  });

  it('ignoreEos bans <eos> and <end_of_turn> (never sampled); otherwise they end generation unseen', async () => {
    // A huge bias makes <end_of_turn> the only likely token.
    const stopFirst = await run({ temperature: 0, maxTokens: 5, logitBias: { 107: 100 } });
    expect(stopFirst.result.tokens).toEqual([]);
    expect(stopFirst.result.finishReason).toBe('stop');
    const ignored = await run({ temperature: 0, maxTokens: 5, logitBias: { 107: 100, 1: 100 }, ignoreEos: true });
    expect(ignored.result.tokens).toHaveLength(5);
    expect(ignored.result.tokens.some((t) => t === 1 || t === 107)).toBe(false);
  });

  it('logprobs: the token\'s log-softmax and the top N alternatives, as the model computes them', async () => {
    const { chunks, result } = await run({ temperature: 0, maxTokens: 4, ignoreEos: true, logprobs: 3 });
    const s = model.createSession();
    let logits = await s.eval(prompt);
    expect(result.logprobs).toHaveLength(4);
    for (let i = 0; i < 4; i++) {
      const lp = result.logprobs![i];
      expect(chunks[i].logprob).toEqual(lp);
      let max = -Infinity;
      for (const x of logits) max = Math.max(max, x);
      let sum = 0;
      for (const x of logits) sum += Math.exp(x - max);
      const norm = max + Math.log(sum);
      const order = [...logits.keys()].sort((a, b) => logits[b] - logits[a] || a - b).slice(0, 3);
      expect(lp.token).toBe(result.tokens[i]);
      expect(lp.token).toBe(order[0]); // greedy
      expect(lp.logprob).toBeCloseTo(logits[lp.token] - norm, 5);
      expect(lp.topLogprobs.map((t) => t.token)).toEqual(order);
      for (const t of lp.topLogprobs) expect(t.logprob).toBeCloseTo(logits[t.token] - norm, 5);
      expect(lp.text).toBe(model.tokenizer.decode([lp.token]));
      expect(Buffer.from(lp.bytes).toString('utf8')).toBe(lp.text);
      logits = await s.eval([result.tokens[i]]);
    }
    const none = await run({ temperature: 0, maxTokens: 2, ignoreEos: true });
    expect(none.result.logprobs).toBeUndefined();
    await expect(run({ logprobs: 21 })).rejects.toThrow(/logprobs must be an integer in 0\.\.20/);
  });

  it('context: an explicit maxTokens that does not fit is refused; without one, generation ends when the context is full', async () => {
    const small = await loadModel(TINY_MQA, { contextLength: 12 });
    const go = (o: GenerateOptions) => collect(generateTokens(small.createSession(), small.tokenizer, prompt, o));
    await expect(go({ maxTokens: 7 })).rejects.toThrow(
      /the prompt \(6 tokens\) plus maxTokens \(7\) exceeds the context length \(12\); lower maxTokens/);
    const fits = await go({ maxTokens: 6, temperature: 0, ignoreEos: true });
    expect(fits.result.tokens).toHaveLength(6);
    const capped = await go({ temperature: 0, ignoreEos: true });
    expect(capped.result.tokens).toHaveLength(6);
    expect(capped.result.finishReason).toBe('length');
    const unlimited = await go({ maxTokens: -1, temperature: 0, ignoreEos: true });
    expect(unlimited.result.tokens).toEqual(capped.result.tokens);
    await expect(collect(generateTokens(small.createSession(), small.tokenizer, [...prompt, ...prompt], {}))).rejects.toThrow(
      /the prompt \(12 tokens\) does not fit in the context \(12 tokens\)/);
    await small.dispose();
  });

  it('abort: a timer fires during generation (the loop yields), generation stops, the session stays usable', async () => {
    const session = model.createSession();
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const t0 = performance.now();
    const { result } = await collect(generateTokens(session, model.tokenizer, prompt, { temperature: 0, maxTokens: 5000, ignoreEos: true, signal: ac.signal }));
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(result.finishReason).toBe('abort');
    expect(result.tokens.length).toBeGreaterThan(0);
    expect(result.tokens.length).toBeLessThan(5000);
    expect(session.length).toBe(prompt.length + result.tokens.length - 1);
    // The session goes on from where it stopped, exactly as an uninterrupted run would.
    const more = await collect(generateTokens(session, model.tokenizer, [result.tokens.at(-1)!], { temperature: 0, maxTokens: 3, ignoreEos: true }));
    const whole = await run({ temperature: 0, maxTokens: result.tokens.length + 3, ignoreEos: true });
    expect([...result.tokens, ...more.result.tokens]).toEqual(whole.result.tokens);
    // Aborted before it starts: nothing is evaluated.
    const s2 = model.createSession();
    const pre = await collect(generateTokens(s2, model.tokenizer, prompt, { signal: AbortSignal.abort() }));
    expect(pre.result).toMatchObject({ finishReason: 'abort', tokens: [], text: '' });
    expect(s2.length).toBe(0);
  });

  it('bad options are one-line GemmaErrors', async () => {
    for (const [o, re] of [
      [{ seed: -1 }, /seed must be an integer in 0\.\.4294967295/],
      [{ seed: 1.5 }, /seed must be an integer/],
      [{ maxTokens: -2 }, /maxTokens must be a non-negative integer/],
      [{ stop: 'x' }, /stop must be an array of strings/],
      [{ topP: 2 }, /topP must be in \[0, 1\]/],
      [{ logitBias: { 2048: 1 } }, /logitBias: token id 2048 is outside the vocabulary \(0\.\.2047\)/],
      [{ signal: {} }, /signal must be an AbortSignal/],
    ] as [GenerateOptions, RegExp][]) {
      const err = await run(o).catch((e) => e);
      expect(err).toBeInstanceOf(GemmaError);
      expect(err.message).toMatch(re);
      expect(err.message).not.toMatch(/\n/);
    }
  });
});

describe('the demo model through Model.generate / stream', () => {
  let model: Model;
  beforeAll(async () => { model = await loadDemoModel(); });

  it('stop strings split across tokens are caught, trimmed and never streamed', async () => {
    const o = { temperature: 1.2, topK: 0, topP: 1, minP: 0, seed: 3, maxTokens: 12, ignoreEos: true };
    const free = await model.generate('Once upon a time', o);
    const pieces = free.tokens.map((t) => model.tokenizer.decode([t]));
    expect(pieces.join('')).toBe(free.text);
    // A stop string made of the end of one token and the start of the next.
    let k = 2;
    while (k < pieces.length - 1 && (pieces[k].length < 2 || pieces[k + 1].length < 2)) k++;
    const boundary = pieces.slice(0, k + 1).join('').length;
    const stop = free.text.slice(boundary - 2, boundary + 2);
    const at = free.text.indexOf(stop);
    const ends = pieces.map((_, i) => pieces.slice(0, i + 1).join('').length);
    expect(ends.some((e) => at < e && e < at + stop.length)).toBe(true); // its first occurrence spans a token boundary
    let streamed = '';
    const it = model.stream('Once upon a time', { ...o, stop: ['never-there', stop] });
    let r = await it.next();
    while (!r.done) {
      streamed += r.value.text;
      expect(streamed).not.toContain(stop);
      r = await it.next();
    }
    expect(r.value.finishReason).toBe('stop');
    expect(r.value.text).toBe(free.text.slice(0, at));
    expect(streamed).toBe(r.value.text);
  });

  it('every result has token counts and speeds', async () => {
    const r = await model.generate('The capital of France is', { temperature: 0, maxTokens: 4, ignoreEos: true });
    expect(r.usage).toEqual({ promptTokens: 6, cachedTokens: 0, completionTokens: 4 });
    expect(r.timings.promptMs).toBeGreaterThan(0);
    expect(r.timings.promptTokensPerSecond).toBeGreaterThan(0);
    expect(r.timings.decodeMs).toBeGreaterThan(0);
    expect(r.timings.decodeTokensPerSecond).toBeGreaterThan(0);
    expect(Number.isInteger(r.seed)).toBe(true);
  });
});
