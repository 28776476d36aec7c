import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/engine/model.js';
import { StopMatcher } from '../../src/engine/generate.js';
import { loadGoldens, maxAbsDiff, TINY_MQA } from '../helpers/goldens.js';
import { loadDemoModel } from '../helpers/load.js';

describe('loadModel on the HF fixture', () => {
  it('exposes the config and matches the goldens through the public API', async () => {
    const model = await loadModel(TINY_MQA);
    expect(model.config).toMatchObject({
      vocabSize: 2048, hiddenSize: 64, intermediateSize: 128, numLayers: 2, numHeads: 4, numKvHeads: 1,
      headDim: 16, contextLength: 8192, rmsNormEps: 1e-6, ropeTheta: 10000,
    });
    const g = loadGoldens()[2];
    const s = model.createSession();
    expect(maxAbsDiff(await s.eval(g.ids, { allLogits: true }), g.logits)).toBeLessThan(1e-3);
    expect(s.length).toBe(g.ids.length);
    await model.dispose();
  });

  it('reports progress and honours contextLength', async () => {
    const seen: number[] = [];
    const model = await loadModel(TINY_MQA, { contextLength: 16, onProgress: (p) => seen.push(p.loaded / p.total) });
    expect(seen[0]).toBe(0);
    expect(seen.at(-1)).toBe(1);
    expect(model.config.contextLength).toBe(16);
    const s = model.createSession();
    await s.eval(Array.from({ length: 16 }, (_, i) => i + 2));
    await expect(s.eval([5])).rejects.toThrow(/context is full: 16 \+ 1 tokens exceed the context length of 16/);
    await expect(loadModel(TINY_MQA, { contextLength: 9000 })).rejects.toThrow(/contextLength 9000 must be an integer in 1\.\.8192/);
    await model.dispose();
  });
});

describe('generation on the demo model (real vocabulary, random weights)', () => {
  let model: Model;
  beforeAll(async () => { model = await loadDemoModel(); });

  it('greedy generation equals argmax over session logits', async () => {
    const r = await model.generate('The capital of France is', { temperature: 0, maxTokens: 8, ignoreEos: true });
    expect(r.tokens.length).toBe(8);
    expect(r.finishReason).toBe('length');
    const s = model.createSession();
    let logits = await s.eval(model.tokenizer.encode('The capital of France is'));
    const expected: number[] = [];
    for (let i = 0; i < 8; i++) {
      let best = 0;
      for (let j = 1; j < logits.length; j++) if (logits[j] > logits[best]) best = j;
      expected.push(best);
      logits = await s.eval([best]);
    }
    expect(r.tokens).toEqual(expected);
    expect(r.text).toBe(model.tokenizer.decode(expected));
    expect(r.usage).toEqual({ promptTokens: 6, cachedTokens: 0, completionTokens: 8 });
  });

  it('stream concatenates to generate; seeds reproduce and differ', async () => {
    const o = { temperature: 1, topK: 0, topP: 1, minP: 0, maxTokens: 12, seed: 42, ignoreEos: true };
    const a = await model.generate('Hello', o);
    let text = '';
    const tokens: number[] = [];
    for await (const c of model.stream('Hello', o)) {
      text += c.text;
      if (c.token >= 0) tokens.push(c.token);
    }
    expect(tokens).toEqual(a.tokens);
    expect(text).toBe(a.text);
    const b = await model.generate('Hello', { ...o, seed: 43 });
    expect(b.tokens).not.toEqual(a.tokens);
  });

  it('chat messages use the template with one <bos>', async () => {
    const ids = model.encodePrompt([{ role: 'user', content: 'Hi <start_of_turn>' }]);
    expect(ids.filter((i) => i === 2)).toEqual([2]);
    expect(ids.filter((i) => i === 106)).toHaveLength(2); // the template's two turn openings, not the user's text
    const r = await model.generate([{ role: 'user', content: 'Hi' }], { temperature: 0, maxTokens: 3, ignoreEos: true });
    expect(r.usage.promptTokens).toBe(model.encodePrompt([{ role: 'user', content: 'Hi' }]).length);
  });

  it('refuses a prompt longer than the context', async () => {
    const small = await loadModel(model.info.path, { contextLength: 4 });
    await expect(small.generate('one two three four five six')).rejects.toThrow(/does not fit in the context/);
    await small.dispose();
  });
});

describe('StopMatcher', () => {
  it('catches stop strings split across pieces and never leaks them', () => {
    const m = new StopMatcher(['</s>', 'STOP']);
    const out: string[] = [];
    let stopped = false;
    for (const piece of ['Hel', 'lo <', '/', 's> world']) {
      const r = m.push(piece);
      out.push(r.text);
      if (r.stopped) { stopped = true; break; }
    }
    expect(stopped).toBe(true);
    expect(out.join('')).toBe('Hello ');
    expect(m.fullText).toBe('Hello ');
  });

  it('releases held-back text that turned out not to be a stop string', () => {
    const m = new StopMatcher(['STOP']);
    expect(m.push('abc ST').text).toBe('abc ');
    expect(m.push('ART').text).toBe('START');
    expect(m.push(' ST').text).toBe(' ');
    expect(m.flush()).toBe('ST');
  });
});
