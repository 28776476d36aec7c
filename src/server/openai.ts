/**
 * POST /v1/chat/completions and POST /v1/completions: request → prompt ids and options →
 * the scheduler → OpenAI's response objects, whole or as server-sent events.
 *
 * Streams carry the same text as the non-streamed reply for the same request and seed: the
 * deltas are the engine's stream chunks, whose concatenation is the final text (stop strings
 * held back and cut as in the engine). A stream ends with a chunk holding finish_reason, then,
 * with stream_options.include_usage, a chunk with empty choices and the usage, then [DONE].
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Generation, Scheduler } from '../engine/scheduler.js';
import type { GenerateOptions, GenerateResult, StreamChunk, TokenLogprob } from '../engine/types.js';
import type { ChatMessage, Tokenizer } from '../tokenizer/types.js';
import { ApiError, badRequest, fromZod, toApiError } from './errors.js';
import { EventStream, sendJson } from './http.js';
import { chatRequest, completionRequest, generateOptions, type ChatRequest } from './schemas.js';

export interface CompletionContext {
  scheduler: Scheduler;
  tokenizer: Tokenizer;
  modelId: string;
  /** max_tokens when a request gives none (−1: until the context is full). */
  defaultMaxTokens: number;
}

type Kind = 'chat' | 'text';

interface Plan {
  kind: Kind;
  prompt: number[];
  promptParam: string;
  options: GenerateOptions;
  stream: boolean;
  includeUsage: boolean;
}

/** The served model, or 404 as OpenAI answers for a model that does not exist. */
function checkModel(ctx: CompletionContext, model: string | undefined): void {
  if (model !== undefined && model !== ctx.modelId) {
    throw new ApiError(404, `The model '${model}' does not exist; this server serves '${ctx.modelId}' (see GET /v1/models)`,
      'invalid_request_error', 'model_not_found', 'model');
  }
}

function chatMessages(r: ChatRequest): ChatMessage[] {
  return r.messages.map((m) => ({
    role: m.role === 'developer' ? 'system' : m.role,
    content: m.content === null ? '' : typeof m.content === 'string' ? m.content : m.content.map((p) => p.text).join('\n'),
  }));
}

export function planChat(ctx: CompletionContext, body: unknown): Plan {
  const parsed = chatRequest.safeParse(body);
  if (!parsed.success) throw fromZod(parsed.error);
  const r = parsed.data;
  checkModel(ctx, r.model);
  if (r.top_logprobs !== undefined && !r.logprobs) throw badRequest("'top_logprobs' requires 'logprobs': true", 'top_logprobs');
  const options = generateOptions(r, r.max_completion_tokens ?? r.max_tokens, ctx.defaultMaxTokens);
  if (r.logprobs) options.logprobs = r.top_logprobs ?? 0;
  let prompt: number[];
  try {
    prompt = ctx.tokenizer.encodeChat(chatMessages(r), { addGenerationPrompt: true });
  } catch (e) {
    throw toApiError(e, 'messages');
  }
  return { kind: 'chat', prompt, promptParam: 'messages', options, stream: r.stream === true, includeUsage: r.stream_options?.include_usage === true };
}

export function planCompletion(ctx: CompletionContext, body: unknown): Plan {
  const parsed = completionRequest.safeParse(body);
  if (!parsed.success) throw fromZod(parsed.error);
  const r = parsed.data;
  checkModel(ctx, r.model);
  const options = generateOptions(r, r.max_tokens, ctx.defaultMaxTokens);
  if (r.logprobs !== undefined) options.logprobs = r.logprobs;
  const p = Array.isArray(r.prompt) && r.prompt.length === 1 && typeof r.prompt[0] !== 'number' ? r.prompt[0] : r.prompt;
  // Text gets <bos> and may contain control tokens (as Model.encodePrompt); token ids are taken as they are.
  const prompt = typeof p === 'string' ? ctx.tokenizer.encode(p) : (p as number[]);
  return { kind: 'text', prompt, promptParam: 'prompt', options, stream: r.stream === true, includeUsage: r.stream_options?.include_usage === true };
}

const newId = (kind: Kind) => `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomBytes(12).toString('hex')}`;

function usage(r: GenerateResult) {
  const u = r.usage;
  return {
    prompt_tokens: u.promptTokens, completion_tokens: u.completionTokens, total_tokens: u.promptTokens + u.completionTokens,
    prompt_tokens_details: { cached_tokens: u.cachedTokens },
  };
}

const chatLogprob = (t: TokenLogprob) => ({
  token: t.text, logprob: t.logprob, bytes: t.bytes,
  top_logprobs: t.topLogprobs.map((a) => ({ token: a.text, logprob: a.logprob, bytes: a.bytes })),
});

/** The legacy completions form; text_offset counts UTF-16 units from the start of the completion. */
function textLogprobs(list: readonly TokenLogprob[], offset0 = 0) {
  let offset = offset0;
  const text_offset: number[] = [];
  for (const t of list) { text_offset.push(offset); offset += t.text.length; }
  return {
    tokens: list.map((t) => t.text),
    token_logprobs: list.map((t) => t.logprob),
    top_logprobs: list.map((t) => Object.fromEntries(t.topLogprobs.map((a) => [a.text, a.logprob]))),
    text_offset,
  };
}

/** Runs a planned request and writes the reply; a client that disconnects cancels its generation. */
export async function respond(ctx: CompletionContext, plan: Plan, res: ServerResponse, req: IncomingMessage): Promise<{ result?: GenerateResult }> {
  let gen: Generation;
  try {
    gen = ctx.scheduler.submit(plan.prompt, plan.options);
  } catch (e) {
    throw toApiError(e, plan.promptParam);
  }
  const onClose = () => { if (!res.writableFinished) gen.cancel(); };
  res.on('close', onClose);
  req.socket.setNoDelay(true);
  try {
    return plan.stream ? await respondStream(ctx, plan, gen, res) : await respondWhole(ctx, plan, gen, res);
  } finally {
    res.off('close', onClose);
  }
}

const shuttingDown = () => new ApiError(503, 'the server is shutting down', 'server_error', 'server_shutdown');

async function respondWhole(ctx: CompletionContext, plan: Plan, gen: Generation, res: ServerResponse): Promise<{ result?: GenerateResult }> {
  let r: GenerateResult;
  try {
    r = await gen.result;
  } catch (e) {
    throw toApiError(e, plan.promptParam);
  }
  if (r.finishReason === 'abort') {
    if (!res.destroyed) throw shuttingDown(); // the client is gone otherwise
    return { result: r };
  }
  const base = { id: newId(plan.kind), created: Math.floor(Date.now() / 1000), model: ctx.modelId };
  const finish_reason = r.finishReason;
  if (plan.kind === 'chat') {
    sendJson(res, 200, {
      ...base, object: 'chat.completion',
      choices: [{
        index: 0, message: { role: 'assistant', content: r.text, refusal: null },
        logprobs: r.logprobs ? { content: r.logprobs.map(chatLogprob), refusal: null } : null, finish_reason,
      }],
      usage: usage(r),
    });
  } else {
    sendJson(res, 200, {
      ...base, object: 'text_completion',
      choices: [{ index: 0, text: r.text, logprobs: r.logprobs ? textLogprobs(r.logprobs) : null, finish_reason }],
      usage: usage(r),
    });
  }
  return { result: r };
}

async function respondStream(ctx: CompletionContext, plan: Plan, gen: Generation, res: ServerResponse): Promise<{ result?: GenerateResult }> {
  const es = new EventStream(res);
  const base = { id: newId(plan.kind), created: Math.floor(Date.now() / 1000), model: ctx.modelId };
  const chat = plan.kind === 'chat';
  const withLogprobs = plan.options.logprobs !== undefined;
  const extra = plan.includeUsage ? { usage: null } : {};
  const chunkOf = (choice: Record<string, unknown>) =>
    ({ ...base, object: chat ? 'chat.completion.chunk' : 'text_completion', choices: [{ index: 0, ...choice }], ...extra });
  let offset = 0;
  const delta = (c: StreamChunk) => {
    const lp = c.logprob;
    const o = offset;
    offset += c.text.length;
    return chat
      ? chunkOf({ delta: { content: c.text }, logprobs: lp ? { content: [chatLogprob(lp)], refusal: null } : null, finish_reason: null })
      : chunkOf({ text: c.text, logprobs: lp ? textLogprobs([lp], o) : null, finish_reason: null });
  };
  if (chat) await es.send(chunkOf({ delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }));
  let r: GenerateResult;
  try {
    for (;;) {
      const next = await gen.next();
      if (next.done) { r = next.value; break; }
      if (next.value.text !== '' || (withLogprobs && next.value.logprob)) await es.send(delta(next.value));
    }
  } catch (e) {
    // Headers are out: report the failure as an error event, as OpenAI does, and end the stream.
    await es.send(toApiError(e, plan.promptParam).body);
    es.end();
    return {};
  }
  if (r.finishReason === 'abort') {
    if (es.open) await es.send(shuttingDown().body);
    es.end();
    return { result: r };
  }
  await es.send(chat
    ? chunkOf({ delta: {}, logprobs: null, finish_reason: r.finishReason })
    : chunkOf({ text: '', logprobs: null, finish_reason: r.finishReason }));
  if (plan.includeUsage) await es.send({ ...base, object: chat ? 'chat.completion.chunk' : 'text_completion', choices: [], usage: usage(r) });
  await es.send('[DONE]');
  es.end();
  return { result: r };
}
