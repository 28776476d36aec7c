/**
 * The continuous-batching scheduler (no HTTP): every request gives what generateTokens gives
 * alone for the same prompt, options and seed, however requests are mixed into steps (chunked
 * prefill beside decoding, queueing, slot reuse with shared prefixes); cancel frees slots; the
 * refusals (queue full, context, bad options) come before anything runs. The tiny HF fixture
 * (2048-row embedding, bundled vocabulary) makes hundreds of steps cheap.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/engine/model.js';
import { generateTokens } from '../../src/engine/generate.js';
import { Session } from '../../src/engine/session.js';
import { ContextOverflowError, QueueFullError, Scheduler, type Generation } from '../../src/engine/scheduler.js';
import type { GenerateOptions, GenerateResult, StreamChunk } from '../../src/engine/types.js';
import { GemmaError } from '../../src/errors.js';
import { TINY_MQA } from '../helpers/goldens.js';
import { CHAIN, collect } from '../helpers/generation.js';

/** A prompt of ids < 2048 (the fixture's vocabulary), <bos> first. */
const prompt = (n: number, salt: number) => [2, ...Array.from({ length: n - 1 }, (_, i) => 300 + ((i * 37 + salt * 101) % 1700))];

const until = async (cond: () => boolean, what: string) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > 20_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
};

describe('Scheduler', () => {
  let model: Model;
  let scheduler: Scheduler | undefined;
  /** One request on its own session (context 200, as the schedulers below unless they say otherwise). */
  const alone = (ids: number[], o: GenerateOptions, ctx = 200) => collect(generateTokens(new Session(model.runtime, ctx), model.tokenizer, ids, o));
  beforeAll(async () => {
    model = await loadModel(TINY_MQA);
  });
  afterEach(async () => {
    await scheduler?.close();
    scheduler = undefined;
  });

  it('mixed requests, batched and queued, each equal generateTokens alone (tokens, chunks, text, logprobs)', async () => {
    // The text of a first run supplies stop strings that end some requests mid-way.
    const probe = await alone(prompt(9, 1), { ...CHAIN, seed: 11, maxTokens: 30, ignoreEos: true });
    const stopAt = probe.result.text.slice(Math.floor(probe.result.text.length / 2)).slice(0, 3);
    const requests: [number[], GenerateOptions][] = [
      [prompt(9, 1), { ...CHAIN, seed: 11, maxTokens: 30, ignoreEos: true, stop: [stopAt] }],
      [prompt(40, 2), { ...CHAIN, seed: 12, maxTokens: 25, logprobs: 3 }],
      [prompt(3, 3), { temperature: 0, maxTokens: 20, ignoreEos: true }],
      [prompt(70, 4), { seed: 14, maxTokens: 18, ignoreEos: true, stop: ['zz', 'a'] }],
      [prompt(5, 5), { ...CHAIN, seed: 15, maxTokens: 0 }],
      [prompt(1, 6), { seed: 16, maxTokens: 22, temperature: 1, topK: 0, topP: 1, minP: 0, ignoreEos: true, logprobs: 0 }],
      [prompt(25, 7), { ...CHAIN, seed: 17, maxTokens: -1, ignoreEos: false }],
      [prompt(12, 8), { seed: 18, maxTokens: 16, repeatPenalty: 1.3, repeatLastN: -1, ignoreEos: true }],
    ];
    const expected: { chunks: StreamChunk[]; result: GenerateResult }[] = [];
    for (const [ids, o] of requests) expected.push(await alone(ids, o));
    expect(expected[0].result.finishReason).toBe('stop');

    // 3 slots for 8 requests; at most 7 prompt tokens per step, so prompts are chunked beside decoding.
    scheduler = new Scheduler(model, { parallel: 3, prefillChunk: 7, contextLength: 200 });
    const s = scheduler;
    const gens = requests.map(([ids, o]) => s.submit(ids, o));
    expect(s.stats.queued + s.stats.busy).toBe(8);
    const got = await Promise.all(gens.map((g) => collect(g)));
    got.forEach((g, i) => {
      const e = expected[i];
      expect(g.result.tokens, `request ${i}`).toEqual(e.result.tokens);
      expect(g.result.text).toBe(e.result.text);
      expect(g.result.finishReason).toBe(e.result.finishReason);
      expect(g.chunks.map((c) => [c.text, c.token])).toEqual(e.chunks.map((c) => [c.text, c.token]));
      expect(g.chunks.map((c) => c.text).join('')).toBe(g.result.text);
      if (requests[i][1].seed !== undefined) expect(g.result.seed).toBe(e.result.seed);
      expect({ ...g.result.usage, cachedTokens: 0 }).toEqual(e.result.usage); // a slot may hold the <bos> of an earlier request
      if (e.result.logprobs) {
        expect(g.result.logprobs!.map((l) => [l.token, l.topLogprobs.map((t) => t.token)])).toEqual(e.result.logprobs.map((l) => [l.token, l.topLogprobs.map((t) => t.token)]));
        g.result.logprobs!.forEach((l, j) => expect(l.logprob).toBeCloseTo(e.result.logprobs![j].logprob, 4));
      }
    });
    expect(s.stats).toEqual({ slots: 3, busy: 0, queued: 0 });
  });

  it('a long prompt is evaluated in chunks beside decoding sequences, which keep getting a token every step', async () => {
    scheduler = new Scheduler(model, { parallel: 2, prefillChunk: 16 });
    const a = scheduler.submit(prompt(4, 1), { seed: 1, maxTokens: 500, ignoreEos: true });
    expect((await a.next()).done).toBe(false);
    const b = scheduler.submit(prompt(161, 2), { seed: 2, maxTokens: 3, ignoreEos: true });
    let during = 0;
    const firstOfB = b.next();
    let bStarted = false;
    void firstOfB.then(() => (bStarted = true));
    while (!bStarted) {
      const c = await a.next();
      expect(c.done).toBe(false);
      if (!bStarted) during++;
    }
    // 161 prompt tokens at 16 per step: 11 steps, each of which also gave `a` a token.
    expect(during).toBeGreaterThanOrEqual(9);
    a.cancel();
    expect((await b.result).tokens).toEqual((await alone(prompt(161, 2), { seed: 2, maxTokens: 3, ignoreEos: true })).result.tokens);
  });

  it('a free slot holding a shared prefix is reused; results stay those of a fresh run', async () => {
    scheduler = new Scheduler(model, { parallel: 2, contextLength: 200 });
    const a = prompt(30, 9);
    const b = [...a.slice(0, 20), 777, 778, 779];
    const o = { seed: 5, maxTokens: 12, ignoreEos: true };
    const first = await scheduler.submit(a, o).result;
    expect(first.usage.cachedTokens).toBe(0);
    const second = await scheduler.submit(b, o).result;
    expect(second.usage.cachedTokens).toBe(20);
    expect(second.tokens).toEqual((await alone(b, o)).result.tokens);
    // The same prompt again: everything but its last token is reused.
    const again = await scheduler.submit(b, o).result;
    expect(again.usage.cachedTokens).toBe(b.length - 1);
    expect(again.tokens).toEqual(second.tokens);
  });

  it('cancel, an abort signal or leaving the iterator ends a request and frees its slot; queued ones start', async () => {
    scheduler = new Scheduler(model, { parallel: 1, maxQueue: 4 });
    const s = scheduler;
    const long = { seed: 1, maxTokens: 5000, ignoreEos: true };
    const running = s.submit(prompt(8, 1), long);
    const controller = new AbortController();
    const queuedBySignal = s.submit(prompt(8, 2), { ...long, signal: controller.signal });
    const queuedCancelled = s.submit(prompt(8, 3), long);
    const next = s.submit(prompt(8, 4), { seed: 2, maxTokens: 5, ignoreEos: true });
    await until(() => running.finished || s.stats.busy === 1, 'the first request to start');
    const firstChunk = await running.next();
    expect(firstChunk.done).toBe(false);
    // Queued requests end at once, with nothing generated.
    queuedCancelled.cancel();
    controller.abort();
    for (const g of [queuedCancelled, queuedBySignal]) {
      const r = await g.result;
      expect(r.finishReason).toBe('abort');
      expect(r.tokens).toEqual([]);
    }
    expect(s.stats.queued).toBe(1);
    running.cancel();
    const r = await running.result;
    expect(r.finishReason).toBe('abort');
    expect(r.tokens.length).toBeLessThan(5000);
    // The freed slot serves the next request, which gives what it gives alone.
    expect((await next.result).tokens).toEqual((await alone(prompt(8, 4), { seed: 2, maxTokens: 5, ignoreEos: true })).result.tokens);
    // Breaking out of for-await cancels too.
    const g: Generation = s.submit(prompt(8, 5), long);
    let n = 0;
    for await (const _ of g) if (++n === 3) break;
    expect((await g.result).finishReason).toBe('abort');
    await until(() => s.stats.busy === 0, 'the slot to be freed');
  });

  it('refuses before running: queue full, prompt or maxTokens beyond the context, bad options and ids', async () => {
    scheduler = new Scheduler(model, { parallel: 1, maxQueue: 1, contextLength: 32 });
    const s = scheduler;
    const long = { seed: 1, maxTokens: 20, ignoreEos: true };
    const a = s.submit(prompt(4, 1), long);
    const b = s.submit(prompt(4, 2), long);
    expect(() => s.submit(prompt(4, 3), long)).toThrow(QueueFullError);
    expect(() => s.submit(prompt(32, 1), {})).toThrow(ContextOverflowError);
    expect(() => s.submit(prompt(10, 1), { maxTokens: 23 })).toThrow(/exceeds the context length \(32\)/);
    expect(() => s.submit(prompt(4, 1), { temperature: -1 })).toThrow(GemmaError);
    expect(() => s.submit([2, 5000], {})).toThrow(/outside the vocabulary/);
    expect(() => s.submit([], {})).toThrow(/empty/);
    expect(() => s.submit(prompt(4, 1), { seed: -3 })).toThrow(/seed/);
    // Default maxTokens: 256, or what the context leaves.
    a.cancel();
    b.cancel();
    await Promise.all([a.result, b.result]);
    expect((await s.submit(prompt(10, 4), { seed: 3, ignoreEos: true }).result).tokens.length).toBe(22);
    expect(() => new Scheduler(model, { parallel: 0 })).toThrow(/parallel/);
    expect(() => new Scheduler(model, { contextLength: 9000 })).toThrow(/contextLength/);
  });

  it('a failing forward pass fails the requests in that step only; the scheduler keeps serving; close() aborts the rest', async () => {
    let failNext = false;
    const runtime = model.runtime;
    const host = {
      tokenizer: model.tokenizer, config: model.config,
      runtime: new Proxy(runtime, {
        get(target, p, receiver) {
          if (p === 'forwardBatch') {
            return (items: Parameters<typeof runtime.forwardBatch>[0]) => {
              if (failNext) { failNext = false; return Promise.reject(new Error('backend failure')); }
              return target.forwardBatch(items);
            };
          }
          return Reflect.get(target, p, receiver);
        },
      }),
    };
    scheduler = new Scheduler(host, { parallel: 2, contextLength: 200 });
    const s = scheduler;
    failNext = true;
    await expect(s.submit(prompt(6, 1), { seed: 1, maxTokens: 4 }).result).rejects.toThrow('backend failure');
    const ok = await s.submit(prompt(6, 1), { seed: 1, maxTokens: 4, ignoreEos: true }).result;
    expect(ok.tokens).toEqual((await alone(prompt(6, 1), { seed: 1, maxTokens: 4, ignoreEos: true })).result.tokens);
    const pending = s.submit(prompt(6, 2), { seed: 1, maxTokens: 150, ignoreEos: true });
    await s.close();
    expect((await pending.result).finishReason).toBe('abort');
    expect(() => s.submit(prompt(6, 2), {})).toThrow(/closed/);
  });
});
