/**
 * gemma-ts: Gemma 1 inference in TypeScript.
 *
 *   const model = await loadModel('path/to/gemma-2b-it');   // HF folder, .safetensors or .gguf
 *   const { text } = await model.generate([{ role: 'user', content: 'Hi!' }], { maxTokens: 64 });
 */
export { loadModel, inspectModel, Model, type LoadOptions, type ModelInfo } from './engine/model.js';
export { Session, type EvalOptions } from './engine/session.js';
export type {
  ChatMessage, GenerateOptions, GenerateResult, StreamChunk, TokenLogprob, TopLogprob, FinishReason, LogitBias,
} from './engine/types.js';
export { ChatSession, type ChatSessionOptions } from './engine/chat-session.js';
export type { PerplexityOptions, PerplexityResult } from './engine/perplexity.js';
export { StopMatcher } from './engine/generate.js';
export type { GemmaConfig } from './model/config.js';
export { loadTokenizer } from './tokenizer/load.js';
export type { Tokenizer, EncodeOptions, DecodeOptions, ChatOptions, StreamDecoder } from './tokenizer/types.js';
export { sample, argmax, SAMPLING_DEFAULTS, type SamplingOptions } from './sampling/sampler.js';
export { Rng } from './sampling/rng.js';
export { GemmaError } from './errors.js';
export type { Backend, Tensor, Weight, WeightData } from './backend/types.js';
export { startServer, type GemmaServer, type ServerOptions } from './server/index.js';
export { convertModel, type ConvertOptions, type ConvertResult } from './convert/convert.js';
export { estimateMemory, weightsForType, GEMMA_SHAPES, type MemoryEstimate } from './engine/memory.js';
export { createCpuBackend, type CpuBackendOptions } from './backend/cpu/index.js';
export { RefBackend } from './backend/ref/ref-backend.js';
