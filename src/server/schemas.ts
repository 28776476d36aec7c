/**
 * Request bodies of the OpenAI-compatible endpoints, validated with zod, and their mapping onto
 * the engine's GenerateOptions. Wire names and rules live here only.
 *
 * OpenAI's fields are accepted with OpenAI's ranges; llama-server's extra samplers (`top_k`,
 * `min_p`, `typical_p`, `repeat_penalty`, `repeat_last_n`, `ignore_eos`, `n_predict`) with
 * llama-server's meaning. A field left out (or null) takes llama.cpp's sampling default, as
 * llama-server does (temperature 0.8, top_k 40, top_p 0.95, min_p 0.05). Fields this server
 * does not know are ignored, as llama-server does; fields it knows but cannot honour (n > 1,
 * tools, echo, …) are refused with 400 rather than silently dropped.
 */
import { z } from 'zod';
import type { GenerateOptions } from '../engine/types.js';
import { badRequest } from './errors.js';

const num = z.number().finite();
const opt = <T extends z.ZodTypeAny>(t: T) => t.nullish().transform((v) => v ?? undefined);
/** Token id → bias, keys as JSON object keys (strings). */
const logitBias = z.record(z.string(), num.min(-100).max(100));
const stopString = z.string().max(256);

const sampling = {
  model: opt(z.string()),
  stream: opt(z.boolean()),
  stream_options: opt(z.object({ include_usage: opt(z.boolean()) })),
  max_tokens: opt(z.number().int().min(-1)),
  n_predict: opt(z.number().int().min(-1)),
  temperature: opt(num.min(0)),
  top_p: opt(num.min(0).max(1)),
  top_k: opt(z.number().int().min(0)),
  min_p: opt(num.min(0).max(1)),
  typical_p: opt(num.min(0).max(1)),
  repeat_penalty: opt(num.gt(0)),
  repeat_last_n: opt(z.number().int().min(-1)),
  presence_penalty: opt(num.min(-2).max(2)),
  frequency_penalty: opt(num.min(-2).max(2)),
  /** −1: a random seed (llama-server). */
  seed: opt(z.number().int().min(-1).max(0xffffffff)),
  /** At most 16 strings of at most 256 characters (the stop matcher rescans a string's prefixes per token). */
  stop: opt(z.union([stopString, z.array(stopString).max(16)], { errorMap: () => ({ message: 'must be a string or an array of at most 16 strings of at most 256 characters' }) })),
  n: opt(z.number().int().refine((n) => n === 1, 'only n = 1 is supported')),
  logit_bias: opt(logitBias),
  ignore_eos: opt(z.boolean()),
  user: opt(z.string()),
};

const textPart = z.object({ type: z.literal('text'), text: z.string() });

const message = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant']),
  content: z.union([z.string(), z.array(textPart), z.null()], {
    errorMap: () => ({ message: "must be a string or an array of text parts ({ type: 'text', text })" }),
  }),
  name: opt(z.string()),
});

export const chatRequest = z.object({
  ...sampling,
  messages: z.array(message).min(1, 'at least one message is required'),
  max_completion_tokens: opt(z.number().int().min(-1)),
  logprobs: opt(z.boolean()),
  top_logprobs: opt(z.number().int().min(0).max(20)),
  tools: opt(z.array(z.unknown()).max(0, 'tools are not supported')),
  tool_choice: opt(z.literal('none')),
  response_format: opt(z.object({ type: z.literal('text') }, { errorMap: () => ({ message: "only { type: 'text' } is supported" }) })),
});

const tokenIds = z.array(z.number().int()).min(1);
export const completionRequest = z.object({
  ...sampling,
  prompt: z.union([z.string(), z.array(z.string()).length(1), tokenIds, z.array(tokenIds).length(1)], {
    errorMap: () => ({ message: 'must be a string or an array of token ids (or an array holding one of these)' }),
  }),
  logprobs: opt(z.number().int().min(0).max(20)),
  echo: opt(z.literal(false, { errorMap: () => ({ message: 'echo is not supported' }) })),
  best_of: opt(z.number().int().refine((n) => n === 1, 'only best_of = 1 is supported')),
  suffix: opt(z.null({ errorMap: () => ({ message: 'suffix is not supported' }) })),
});

export const tokenizeRequest = z.object({
  content: z.string(),
  /** Prepend <bos> (llama-server's default: false). */
  add_special: opt(z.boolean()),
  /** Recognise control-token text such as <start_of_turn> (default true). */
  parse_special: opt(z.boolean()),
  with_pieces: opt(z.boolean()),
});

export const detokenizeRequest = z.object({ tokens: z.array(z.number().int()) });

export type ChatRequest = z.infer<typeof chatRequest>;
export type CompletionRequest = z.infer<typeof completionRequest>;
const samplingFields = z.object(sampling);
type SamplingFields = z.infer<typeof samplingFields>;

/** GenerateOptions from the fields both endpoints share; `maxTokens` when the request gives none. */
export function generateOptions(r: SamplingFields, maxTokens: number | undefined, defaultMaxTokens: number): GenerateOptions {
  if (r.stream_options !== undefined && !r.stream) throw badRequest("'stream_options' is only allowed when 'stream' is true", 'stream_options');
  const logitBias: Record<number, number> = {};
  for (const [key, bias] of Object.entries(r.logit_bias ?? {})) {
    if (!/^\d+$/.test(key)) throw badRequest(`Invalid 'logit_bias': key ${JSON.stringify(key)} is not a token id`, 'logit_bias');
    logitBias[Number(key)] = bias;
  }
  return {
    maxTokens: maxTokens ?? r.n_predict ?? defaultMaxTokens,
    temperature: r.temperature, topP: r.top_p, topK: r.top_k, minP: r.min_p, typicalP: r.typical_p,
    repeatPenalty: r.repeat_penalty, repeatLastN: r.repeat_last_n,
    presencePenalty: r.presence_penalty, frequencyPenalty: r.frequency_penalty,
    logitBias: Object.keys(logitBias).length > 0 ? logitBias : undefined,
    seed: r.seed === undefined || r.seed === -1 ? undefined : r.seed,
    stop: r.stop === undefined ? undefined : typeof r.stop === 'string' ? [r.stop] : r.stop,
    ignoreEos: r.ignore_eos,
  };
}
