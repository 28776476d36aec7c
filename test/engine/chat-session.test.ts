/**
 * Multi-turn chat with KV reuse on the demo model (real vocabulary and chat template, random
 * weights): a new turn evaluates only its new tokens and gives the logits of evaluating the whole
 * conversation from scratch; a conversation sharing a beginning reuses it; abort keeps it usable.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Model } from '../../src/engine/model.js';
import type { ChatMessage } from '../../src/engine/types.js';
import { maxAbsDiff } from '../helpers/goldens.js';
import { loadDemoModel } from '../helpers/load.js';

const greedy = { temperature: 0, maxTokens: 5 };

describe('ChatSession', () => {
  let model: Model;
  beforeAll(async () => { model = await loadDemoModel(); });

  /** Tokens of one more user turn after a closed model turn: <end_of_turn>\n + the turn + the generation prompt. */
  const newTurnTokens = (text: string) => 2 + model.encodePrompt([{ role: 'user', content: text }]).length - 1;

  it('the second turn evaluates only its new tokens and matches a from-scratch evaluation', async () => {
    const chat = model.createChat();
    const r1 = await chat.generate('Hello there', greedy);
    expect(r1.usage).toMatchObject({ promptTokens: 11, cachedTokens: 0, completionTokens: 5 });
    expect(chat.messages).toEqual([{ role: 'user', content: 'Hello there' }, { role: 'assistant', content: r1.text }]);

    // The prompt of turn 2, evaluated through the cache.
    const p = await chat.prefill('How are you?');
    const conversation: ChatMessage[] = [...chat.messages, { role: 'user', content: 'How are you?' }];
    const ids = model.encodePrompt(conversation);
    expect(chat.tokens).toEqual(ids); // the whole conversation, as the template renders it
    // New: the last sampled token (sampled, never evaluated), then only the new turn.
    const unevaluated = r1.finishReason === 'length' ? 1 : 0;
    expect(p.promptTokens - p.cachedTokens).toBe(unevaluated + newTurnTokens('How are you?'));
    const scratch = await model.createSession().eval(ids);
    expect(maxAbsDiff(p.logits, scratch)).toBeLessThan(1e-5);

    // Generating turn 2 evaluates only the last prompt token again; the answer equals a fresh run's.
    const r2 = await chat.generate('How are you?', { ...greedy, logprobs: 2 });
    expect(r2.usage).toMatchObject({ promptTokens: ids.length, cachedTokens: ids.length - 1 });
    const fresh = await model.generate(conversation, { ...greedy, logprobs: 2 });
    expect(r2.tokens).toEqual(fresh.tokens);
    for (let i = 0; i < r2.tokens.length; i++) expect(r2.logprobs![i].logprob).toBeCloseTo(fresh.logprobs![i].logprob, 4);
    expect(chat.messages).toHaveLength(4);
    chat.dispose();
  });

  it('generated answers keep their sampled tokens; a third turn again evaluates only what is new', async () => {
    const chat = model.createChat({ system: 'Be brief.' });
    await chat.generate('One', greedy);
    const r2 = await chat.generate('Two', greedy);
    const before = chat.tokens.length;
    const p = await chat.prefill('Three');
    // The cache is reused up to the end of what turn 2 evaluated whenever its answer's tokens
    // decode to the template's (trimmed) text; otherwise up to where the template differs.
    const sampledText = model.tokenizer.decode(r2.tokens);
    if (sampledText === sampledText.trim()) {
      expect(p.cachedTokens).toBe(before);
      expect(p.promptTokens - p.cachedTokens).toBe((r2.finishReason === 'length' ? 1 : 0) + newTurnTokens('Three'));
    } else {
      expect(p.cachedTokens).toBeLessThan(before);
    }
    // Either way the cache holds a rendering of exactly this conversation, and its logits are a
    // from-scratch evaluation's.
    const conversation: ChatMessage[] = [...chat.messages, { role: 'user', content: 'Three' }];
    expect(model.tokenizer.decode(chat.tokens as number[])).toBe(model.tokenizer.decode(model.encodePrompt(conversation)));
    const scratch = await model.createSession().eval([...chat.tokens]);
    expect(maxAbsDiff(p.logits, scratch)).toBeLessThan(1e-5);
    expect(chat.messages[0]).toEqual({ role: 'system', content: 'Be brief.' });
    chat.dispose();
  });

  it('an answer sampled as tokens the tokenizer would not choose is kept as sampled (no re-evaluation)', async () => {
    const a = model.tokenizer.pieceToId('a')!;
    expect(model.tokenizer.encode('aaaa', { addBos: false })).not.toEqual([a, a, a, a]); // "aaaa" is one token
    const chat = model.createChat();
    const r1 = await chat.generate('Say aaaa', { temperature: 0, maxTokens: 4, logitBias: { [a]: 100 } });
    expect(r1.tokens).toEqual([a, a, a, a]);
    const p = await chat.prefill('Again');
    const conversation: ChatMessage[] = [...chat.messages, { role: 'user', content: 'Again' }];
    // The cache keeps the four sampled tokens: only the last (never evaluated) and the new turn run.
    expect(p.promptTokens - p.cachedTokens).toBe(1 + newTurnTokens('Again'));
    expect(chat.tokens).not.toEqual(model.encodePrompt(conversation));
    expect(model.tokenizer.decode([...chat.tokens])).toBe(model.tokenizer.decode(model.encodePrompt(conversation)));
    expect(maxAbsDiff(p.logits, await model.createSession().eval([...chat.tokens]))).toBeLessThan(1e-5);
    // Once the answer is edited, the template's own tokens take over from where it changed.
    const edited: ChatMessage[] = [conversation[0], { role: 'assistant', content: 'aaab' }, conversation[2]];
    const q = await chat.prefill(edited);
    expect(chat.tokens).toEqual(model.encodePrompt(edited));
    expect(q.cachedTokens).toBe(model.encodePrompt([conversation[0]]).length);
    chat.dispose();
  });

  it('a different conversation sharing a beginning evaluates only the differing suffix', async () => {
    const chat = model.createChat();
    const a: ChatMessage[] = [
      { role: 'user', content: 'What is two plus two?' }, { role: 'assistant', content: 'Four.' },
      { role: 'user', content: 'And three plus three?' },
    ];
    await chat.prefill(a);
    expect(chat.tokens).toEqual(model.encodePrompt(a));
    const b: ChatMessage[] = [...a.slice(0, 2), { role: 'user', content: 'And five plus five?' }];
    const idsB = model.encodePrompt(b);
    const idsA = model.encodePrompt(a);
    let shared = 0;
    while (idsA[shared] === idsB[shared]) shared++;
    const p = await chat.prefill(b);
    expect(p.cachedTokens).toBe(shared);
    expect(p.promptTokens).toBe(idsB.length);
    expect(maxAbsDiff(p.logits, await model.createSession().eval(idsB))).toBeLessThan(1e-5);
    // Editing the earlier answer: reuse stops where the edit starts.
    const c: ChatMessage[] = [a[0], { role: 'assistant', content: 'It is four.' }, a[2]];
    const idsC = model.encodePrompt(c);
    let sharedC = 0;
    while (idsB[sharedC] === idsC[sharedC]) sharedC++;
    expect((await chat.prefill(c)).cachedTokens).toBe(sharedC);
    // generate() with a whole conversation replaces the session's conversation.
    const r = await chat.generate(c, greedy);
    expect(r.usage.cachedTokens).toBe(idsC.length - 1);
    expect(chat.messages).toEqual([...c, { role: 'assistant', content: r.text }]);
    chat.dispose();
  });

  it('abort stops the answer, keeps what was said, and the chat goes on; reset and setSystem', async () => {
    const chat = model.createChat();
    const ac = new AbortController();
    let n = 0;
    const it = chat.stream('Tell me a long story', { temperature: 0, maxTokens: 200, ignoreEos: true, signal: ac.signal });
    let r = await it.next();
    while (!r.done) {
      if (++n === 3) ac.abort();
      r = await it.next();
    }
    expect(r.value.finishReason).toBe('abort');
    expect(r.value.tokens).toHaveLength(3);
    expect(chat.messages.at(-1)).toEqual({ role: 'assistant', content: r.value.text });
    const r2 = await chat.generate('Go on', greedy);
    expect(r2.tokens).toHaveLength(5);
    // The first prompt at least is reused (and the partial answer too when its text is already trimmed).
    expect(r2.usage.cachedTokens).toBeGreaterThanOrEqual(r.value.usage.promptTokens);
    if (r.value.text === r.value.text.trim()) expect(r2.usage.cachedTokens).toBe(r.value.usage.promptTokens + 2);
    const both = await Promise.allSettled([chat.generate('a', greedy), chat.generate('b', greedy)]);
    expect(both[0].status).toBe('fulfilled');
    expect(both[1].status === 'rejected' && String(both[1].reason)).toMatch(/GemmaError: this chat session is already generating/);

    chat.reset();
    expect(chat.messages).toEqual([]);
    const r3 = await chat.generate('Tell me a long story', greedy);
    expect(r3.usage.cachedTokens).toBe(r3.usage.promptTokens - 1); // the first turn was still in the cache
    chat.setSystem('You are a pirate.');
    expect(chat.messages).toEqual([{ role: 'system', content: 'You are a pirate.' }]);
    const r4 = await chat.generate('Hi', greedy);
    expect(r4.usage.promptTokens).toBe(model.encodePrompt([{ role: 'system', content: 'You are a pirate.' }, { role: 'user', content: 'Hi' }]).length);
    chat.dispose();
  });

  it('model.generate and model.stream accept messages and use the chat template', async () => {
    const msgs: ChatMessage[] = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }];
    const r = await model.generate(msgs, greedy);
    expect(r.usage.promptTokens).toBe(model.tokenizer.encodeChat(msgs, { addGenerationPrompt: true }).length);
    let text = '';
    for await (const c of model.stream(msgs, greedy)) text += c.text;
    expect(text).toBe(r.text);
  });
});
