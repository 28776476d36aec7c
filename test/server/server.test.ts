/**
 * The real server on the demo model (real 256000-piece vocabulary, random weights) on an
 * ephemeral loopback port, driven by the official `openai` client and by plain fetch/http:
 * chat and text completions, streamed and not (same text for the same seed), concurrent
 * streams equal to the same requests alone, bad input of every kind with its status and
 * OpenAI's error shape, disconnects that free their slot, API keys, and the server serving on
 * after each of these.
 */
import http from 'node:http';
import path from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoModel } from '../../src/engine/demo.js';
import { loadModel, type Model } from '../../src/engine/model.js';
import { startServer, type GemmaServer } from '../../src/server/index.js';
import { tmpDir } from '../helpers/tiny-models.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Json; headers: Headers }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Json, headers: res.headers };
}

/** An OpenAI error body: { error: { message, type, param, code } }. */
function expectError(r: { status: number; json: Json }, status: number, code?: string | null, param?: string | null): void {
  expect(r.status, JSON.stringify(r.json)).toBe(status);
  expect(Object.keys(r.json)).toEqual(['error']);
  expect(typeof r.json.error.message).toBe('string');
  expect(r.json.error.message.length).toBeGreaterThan(0);
  expect(r.json.error.type).toMatch(/^(invalid_request_error|server_error)$/);
  if (code !== undefined) expect(r.json.error.code).toBe(code);
  if (param !== undefined) expect(r.json.error.param).toBe(param);
}

const user = (content: string) => ({ role: 'user' as const, content });

describe('gemma server', () => {
  let model: Model;
  let server: GemmaServer;
  let client: OpenAI;
  const logs: string[] = [];
  const url = (p: string) => `${server.url}${p}`;

  beforeAll(async () => {
    const dir = path.join(tmpDir(), 'demo');
    await createDemoModel(dir);
    model = await loadModel(dir);
    server = await startServer(model, { port: 0, parallel: 16, log: (l) => logs.push(l) });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'not-checked', maxRetries: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await model?.dispose();
  });

  it('listens on loopback; /health, /v1/models', async () => {
    expect(server.host).toBe('127.0.0.1');
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const health = await (await fetch(url('/health'))).json();
    expect(health).toEqual({ status: 'ok', slots_idle: 16, slots_processing: 0, requests_queued: 0 });
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['demo']);
    expect((await client.models.retrieve('demo')).id).toBe('demo');
  });

  it('chat: streamed text equals the non-streamed text and the engine alone for the same seed', async () => {
    const messages = [{ role: 'system' as const, content: 'Be brief.' }, user('Write a haiku about the sea')];
    const params = { model: 'demo', messages, max_tokens: 6, seed: 42, temperature: 1.2, top_p: 0.9 };
    const whole = await client.chat.completions.create(params);
    expect(whole.object).toBe('chat.completion');
    expect(whole.id).toMatch(/^chatcmpl-/);
    expect(whole.model).toBe('demo');
    const choice = whole.choices[0];
    expect(choice.message.role).toBe('assistant');
    expect(choice.finish_reason).toBe('length');
    expect(whole.usage).toMatchObject({ completion_tokens: 6, total_tokens: whole.usage!.prompt_tokens + 6 });

    const stream = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
    let text = '', finish: string | null = null, usage: unknown, chunks = 0;
    for await (const c of stream) {
      chunks++;
      expect(c.object).toBe('chat.completion.chunk');
      if (c.usage) usage = c.usage;
      if (c.choices.length === 0) continue;
      text += c.choices[0].delta.content ?? '';
      finish = c.choices[0].finish_reason ?? finish;
    }
    expect(chunks).toBeGreaterThan(2);
    expect(text).toBe(choice.message.content);
    expect(finish).toBe('length');
    expect(usage).toMatchObject({ prompt_tokens: whole.usage!.prompt_tokens, completion_tokens: 6 });

    const direct = await model.generate(messages, { maxTokens: 6, seed: 42, temperature: 1.2, topP: 0.9 });
    expect(direct.text).toBe(choice.message.content);
    expect(direct.usage.promptTokens).toBe(whole.usage!.prompt_tokens);
  });

  it('completions: streamed equals non-streamed, with logprobs, a stop string and llama-server samplers', async () => {
    const base = { model: 'demo', prompt: 'The capital of France is', max_tokens: 6, seed: 7, temperature: 0.9, top_k: 30, min_p: 0.01, repeat_penalty: 1.1 };
    const free = await client.completions.create(base as OpenAI.CompletionCreateParamsNonStreaming);
    expect(free.object).toBe('text_completion');
    expect(free.id).toMatch(/^cmpl-/);
    const text = free.choices[0].text;
    expect(free.choices[0].finish_reason).toBe('length');
    // A stop string from the middle of that text ends the same run there.
    const stop = text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 2);
    const params = { ...base, stop: [stop], logprobs: 2 } as OpenAI.CompletionCreateParamsNonStreaming;
    const whole = await client.completions.create(params);
    const c0 = whole.choices[0];
    expect(c0.finish_reason).toBe('stop');
    expect(text.startsWith(c0.text)).toBe(true);
    expect(c0.text.includes(stop)).toBe(false);
    const lp = c0.logprobs!;
    expect(lp.tokens!.length).toBe(whole.usage!.completion_tokens);
    expect(lp.top_logprobs!.every((t) => Object.keys(t).length <= 2)).toBe(true);
    expect(lp.token_logprobs!.every((x) => x < 0)).toBe(true);

    const stream = await client.completions.create({ ...params, stream: true });
    let streamed = '', finish: string | null = null;
    const tokens: string[] = [];
    for await (const c of stream) {
      streamed += c.choices[0]?.text ?? '';
      finish = c.choices[0]?.finish_reason ?? finish;
      tokens.push(...(c.choices[0]?.logprobs?.tokens ?? []));
    }
    expect(streamed).toBe(c0.text);
    expect(finish).toBe('stop');
    expect(tokens).toEqual(lp.tokens);
  });

  it('chat logprobs and prompts as token ids', async () => {
    const r = await client.chat.completions.create({ model: 'demo', messages: [user('Hi')], max_tokens: 3, seed: 1, logprobs: true, top_logprobs: 2 });
    const content = r.choices[0].logprobs!.content!;
    expect(content.length).toBe(3);
    expect(content.map((c) => c.token).join('')).toBe(r.choices[0].message.content);
    expect(content.every((c) => c.top_logprobs.length === 2 && Array.isArray(c.bytes))).toBe(true);
    const ids = model.tokenizer.encode('Hello world');
    const [a, b] = await Promise.all([
      client.completions.create({ model: 'demo', prompt: ids, max_tokens: 3, seed: 3 }),
      client.completions.create({ model: 'demo', prompt: 'Hello world', max_tokens: 3, seed: 3 }),
    ]);
    expect(a.choices[0].text).toBe(b.choices[0].text);
  });

  it('16 concurrent streaming clients each get what the same request gives alone', async () => {
    const requests = Array.from({ length: 16 }, (_, i) => ({
      chat: i % 2 === 0, seed: 1000 + i, prompt: `Request number ${i}: tell me about ${['cats', 'the sea', 'bread', 'Paris'][i % 4]}`,
    }));
    const run = async (r: (typeof requests)[number], stream: boolean): Promise<string> => {
      const common = { model: 'demo', max_tokens: 5, seed: r.seed, temperature: 1 };
      if (r.chat) {
        if (!stream) return (await client.chat.completions.create({ ...common, messages: [user(r.prompt)] })).choices[0].message.content!;
        let text = '';
        for await (const c of await client.chat.completions.create({ ...common, messages: [user(r.prompt)], stream: true })) text += c.choices[0]?.delta.content ?? '';
        return text;
      }
      if (!stream) return (await client.completions.create({ ...common, prompt: r.prompt })).choices[0].text;
      let text = '';
      for await (const c of await client.completions.create({ ...common, prompt: r.prompt, stream: true })) text += c.choices[0]?.text ?? '';
      return text;
    };
    // Open 16 keep-alive connections first: this in-process client opens new ones one at a
    // time, between two of the server's steps, which would spread the requests over many steps.
    await Promise.all(requests.map(() => fetch(url('/health')).then((r) => r.json())));
    let maxBusy = 0;
    const watch = setInterval(() => { maxBusy = Math.max(maxBusy, server.scheduler.stats.busy); }, 5);
    const together = await Promise.all(requests.map((r) => run(r, true)));
    clearInterval(watch);
    expect(maxBusy).toBeGreaterThanOrEqual(12); // they really ran together
    const alone: string[] = [];
    for (const r of requests) alone.push(await run(r, false));
    expect(together).toEqual(alone);
    expect(new Set(together).size).toBe(16); // independent outputs
  });

  it('bad input: status and OpenAI error shape; nothing runs', async () => {
    const chat = url('/v1/chat/completions'), comp = url('/v1/completions');
    const ok = { messages: [user('Hi')], max_tokens: 1 };
    expectError(await post(chat, '{"messages": [', {}), 400, 'invalid_json');
    expectError(await post(chat, ''), 400, 'invalid_json');
    expectError(await post(chat, '[1, 2]'), 400, 'invalid_type');
    expectError(await post(chat, { ...ok, temperature: 'hot' }), 400, 'invalid_type', 'temperature');
    expectError(await post(chat, { ...ok, max_tokens: 1.5 }), 400, 'invalid_type', 'max_tokens');
    expectError(await post(chat, { ...ok, messages: [{ role: 'user', content: 5 }] }), 400, undefined, 'messages[0].content');
    expectError(await post(chat, { ...ok, messages: [{ role: 'tool', content: 'x' }] }), 400, undefined, 'messages[0].role');
    expectError(await post(chat, { ...ok, messages: [] }), 400, undefined, 'messages');
    expectError(await post(chat, { max_tokens: 1 }), 400, 'invalid_type', 'messages');
    expectError(await post(chat, { ...ok, messages: [user('a'), user('b')] }), 400); // roles must alternate
    expectError(await post(chat, { ...ok, n: 2 }), 400, undefined, 'n');
    expectError(await post(chat, { ...ok, top_p: 1.5 }), 400, undefined, 'top_p');
    expectError(await post(chat, { ...ok, seed: 2 ** 33 }), 400, undefined, 'seed');
    expectError(await post(chat, { ...ok, stop: [1] }), 400, undefined, 'stop');
    expectError(await post(chat, { ...ok, stop: 'x'.repeat(300) }), 400, undefined, 'stop');
    expectError(await post(chat, { ...ok, stream_options: { include_usage: true } }), 400, undefined, 'stream_options');
    expectError(await post(chat, { ...ok, top_logprobs: 2 }), 400, undefined, 'top_logprobs');
    expectError(await post(chat, { ...ok, tools: [{ type: 'function' }] }), 400, undefined, 'tools');
    expectError(await post(chat, { ...ok, logit_bias: { abc: 1 } }), 400, undefined, 'logit_bias');
    expectError(await post(chat, { ...ok, logit_bias: { 999999: 1 } }), 400);
    expectError(await post(comp, { prompt: [2, 300000], max_tokens: 1 }), 400);
    expectError(await post(comp, { prompt: { text: 'x' } }), 400, undefined, 'prompt');
    expectError(await post(comp, { prompt: 'x', echo: true }), 400, undefined, 'echo');
    expectError(await post(url('/detokenize'), { tokens: [1, -1] }), 400, undefined, 'tokens[1]');
    expectError(await post(url('/tokenize'), { content: 3 }), 400, 'invalid_type', 'content');
    // Unknown model: 404 as OpenAI; the client maps it to NotFoundError.
    expectError(await post(chat, { ...ok, model: 'gpt-4o' }), 404, 'model_not_found', 'model');
    await expect(client.chat.completions.create({ model: 'nope', messages: [user('x')] })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.chat.completions.create({ model: 'demo', messages: [user('x')], temperature: -1 })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    // Routes and methods.
    const get404 = await fetch(url('/v1/nothing'));
    expectError({ status: get404.status, json: (await get404.json()) as Json }, 404, 'unknown_url');
    const get405 = await fetch(chat);
    expectError({ status: get405.status, json: (await get405.json()) as Json }, 405);
    expect(get405.headers.get('allow')).toBe('POST');
    // A prompt longer than the context, and max_tokens that does not fit beside a prompt.
    const long = await post(comp, { prompt: 'hello '.repeat(9000), max_tokens: 1 });
    expectError(long, 400, 'context_length_exceeded', 'prompt');
    expect(long.json.error.message).toMatch(/does not fit in the context \(8192 tokens\)/);
    expectError(await post(chat, { ...ok, max_tokens: 8190 }), 400, 'context_length_exceeded', 'messages');
    expect(server.scheduler.stats).toEqual({ slots: 16, busy: 0, queued: 0 });
    expect(logs.some((l) => / 500 /.test(l))).toBe(false);
    // Still serving.
    expect((await post(chat, { ...ok, seed: 1 })).status).toBe(200);
  });

  it('an oversized body gets 413, read to the end or refused before it is sent (Expect: 100-continue)', async () => {
    const big = JSON.stringify({ prompt: 'x'.repeat(5 * 2 ** 20), max_tokens: 1 });
    expectError(await post(url('/v1/completions'), big), 413, 'request_too_large');
    const refused = await new Promise<{ status: number; json: Json; continued: boolean }>((resolve, reject) => {
      let continued = false;
      const req = http.request(url('/v1/completions'), {
        method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(big.length), expect: '100-continue' },
      }, (res) => {
        let data = '';
        res.on('data', (d) => (data += d));
        res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(data), continued }));
      });
      req.on('continue', () => { continued = true; req.end(big); });
      req.on('error', reject);
      req.flushHeaders();
    });
    expect(refused.continued).toBe(false);
    expectError(refused, 413, 'request_too_large');
    expect((await post(url('/tokenize'), { content: 'Hello world' })).json).toEqual({ tokens: model.tokenizer.encode('Hello world', { addBos: false }) });
  });

  it('a client leaving mid-stream or mid-request aborts its generation and frees its slot', async () => {
    const long = { model: 'demo', max_tokens: 4000, ignore_eos: true, seed: 5 } as const;
    const stream = await client.chat.completions.create({ ...long, messages: [user('Go on forever')], stream: true } as OpenAI.ChatCompletionCreateParamsStreaming);
    let seen = 0;
    for await (const c of stream) {
      if (c.choices[0]?.delta.content) seen++;
      if (seen === 2) break; // leaves: the client closes the connection
    }
    await until(() => server.scheduler.stats.busy === 0, 'the streamed generation to stop');
    await until(() => logs.some((l) => /client gone .*abort/.test(l)), 'the log line');

    const controller = new AbortController();
    const pending = fetch(url('/v1/completions'), { method: 'POST', body: JSON.stringify({ ...long, prompt: 'And then' }), signal: controller.signal });
    await until(() => server.scheduler.stats.busy === 1, 'the request to start');
    controller.abort();
    await expect(pending).rejects.toThrow();
    await until(() => server.scheduler.stats.busy === 0, 'the non-streamed generation to stop');
    // Serving on.
    const r = await client.chat.completions.create({ model: 'demo', messages: [user('Hi')], max_tokens: 2, seed: 1 });
    expect(r.choices[0].finish_reason).toBe('length');
  });

  it('a full queue gets 503 (the client sees a server error); a freed slot serves the next request', async () => {
    const small = await startServer(model, { port: 0, parallel: 1, maxQueue: 0 });
    try {
      const c = new OpenAI({ baseURL: `${small.url}/v1`, apiKey: 'x', maxRetries: 0 });
      const stream = await c.completions.create({ model: 'demo', prompt: 'Tell', max_tokens: 4000, ignore_eos: true, stream: true } as OpenAI.CompletionCreateParamsStreaming);
      const it = stream[Symbol.asyncIterator]();
      await it.next();
      const busy = await post(`${small.url}/v1/completions`, { prompt: 'x', max_tokens: 1 });
      expectError(busy, 503, 'server_busy');
      expect(busy.headers.get('retry-after')).toBe('1');
      await expect(c.completions.create({ model: 'demo', prompt: 'x', max_tokens: 1 })).rejects.toMatchObject({ status: 503 });
      stream.controller.abort();
      await until(() => small.scheduler.stats.busy === 0, 'the slot to be freed');
      expect((await c.completions.create({ model: 'demo', prompt: 'x', max_tokens: 1 })).choices[0].text).toBeTypeOf('string');
    } finally {
      await small.close();
    }
  });

  it('with an API key every endpoint but /health needs it', async () => {
    const keyed = await startServer(model, { port: 0, parallel: 1, apiKey: 'sekret' });
    try {
      expect((await fetch(`${keyed.url}/health`)).status).toBe(200);
      const missing = await fetch(`${keyed.url}/v1/models`);
      expectError({ status: missing.status, json: (await missing.json()) as Json }, 401, 'invalid_api_key');
      expect(missing.headers.get('www-authenticate')).toBe('Bearer');
      expectError(await post(`${keyed.url}/v1/completions`, { prompt: 'x' }, { authorization: 'Bearer wrong' }), 401, 'invalid_api_key');
      expectError(await post(`${keyed.url}/tokenize`, { content: 'x' }), 401, 'invalid_api_key');
      const wrong = new OpenAI({ baseURL: `${keyed.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
      await expect(wrong.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
      const right = new OpenAI({ baseURL: `${keyed.url}/v1`, apiKey: 'sekret', maxRetries: 0 });
      expect((await right.models.list()).data[0].id).toBe('demo');
      expect((await right.completions.create({ model: 'demo', prompt: 'x', max_tokens: 1 })).choices).toHaveLength(1);
    } finally {
      await keyed.close();
    }
  });

  it('close() ends running requests: a stream gets an error event, a whole reply 503', async () => {
    const closing = await startServer(model, { port: 0, parallel: 2 });
    const c = new OpenAI({ baseURL: `${closing.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const long = { model: 'demo', max_tokens: 4000, ignore_eos: true };
    const stream = await c.completions.create({ ...long, prompt: 'A', stream: true } as OpenAI.CompletionCreateParamsStreaming);
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    const whole = post(`${closing.url}/v1/completions`, { ...long, prompt: 'B' });
    await until(() => closing.scheduler.stats.busy === 2, 'both requests to run');
    const closed = closing.close();
    await expect((async () => { for (;;) if ((await it.next()).done) return; })()).rejects.toMatchObject({ error: { code: 'server_shutdown' } });
    expectError(await whole, 503, 'server_shutdown');
    await closed;
  });

  it('tokenize and detokenize (llama-server\'s endpoints)', async () => {
    const t = await post(url('/tokenize'), { content: 'Hello world', add_special: true, with_pieces: true });
    expect(t.json.tokens).toEqual([{ id: 2, piece: '<bos>' }, { id: 4521, piece: 'Hello' }, { id: 2134, piece: ' world' }]);
    const d = await post(url('/detokenize'), { tokens: [4521, 2134] });
    expect(d.json).toEqual({ content: 'Hello world' });
  });
});
