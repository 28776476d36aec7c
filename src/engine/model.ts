/**
 * The library's entry point: `loadModel` opens a checkpoint, moves its weights onto a backend
 * and pairs it with the checkpoint's tokenizer.
 */
import { GemmaError } from '../errors.js';
import { ggmlTypeName } from '../formats/ggml-types.js';
import type { Backend } from '../backend/types.js';
import { RefBackend } from '../backend/ref/ref-backend.js';
import { createCpuBackend } from '../backend/cpu/index.js';
import { openCheckpoint, type Checkpoint } from '../model/checkpoint.js';
import type { GemmaConfig } from '../model/config.js';
import { GemmaModel } from '../model/gemma.js';
import { loadWeights } from '../model/weights.js';
import { loadTokenizer } from '../tokenizer/load.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { ChatSession, type ChatSessionOptions } from './chat-session.js';
import { generateTokens } from './generate.js';
import { checkMemory } from './memory.js';
import { perplexity, DEFAULT_PERPLEXITY_CONTEXT, type PerplexityOptions, type PerplexityResult } from './perplexity.js';
import { Session } from './session.js';
import type { ChatMessage, GenerateOptions, GenerateResult, StreamChunk } from './types.js';

export interface LoadOptions {
  /** Worker threads for CPU backends (default: available cores). */
  threads?: number;
  /** Tokens a session holds (default and maximum: the model's context length, 8192 for Gemma 1). */
  contextLength?: number;
  onProgress?: (p: { loaded: number; total: number }) => void;
  /** Compute backend: 'cpu' (default: WebAssembly SIMD on worker threads) or 'ref' (plain TypeScript, the oracle). */
  backend?: 'cpu' | 'ref';
  /** One-line warnings, e.g. when the machine lacks the memory the model needs (default: printed to stderr). */
  onWarning?: (message: string) => void;
}

export interface ModelInfo {
  format: Checkpoint['format'];
  path: string;
  config: GemmaConfig;
  tensorCount: number;
  /** Tensor count per storage type name (F32, BF16, Q8_0, ...). */
  types: Record<string, number>;
  /** Bytes of tensor data. */
  bytes: number;
  /** Number of weights (the tied embedding counted once). */
  parameters: number;
  /** Where the tokenizer comes from. */
  tokenizer: string;
}

function describeCheckpoint(ckpt: Checkpoint): ModelInfo {
  const types: Record<string, number> = {};
  let parameters = 0;
  for (const t of ckpt.tensors.values()) {
    types[ggmlTypeName(t.type)] = (types[ggmlTypeName(t.type)] ?? 0) + 1;
    parameters += t.shape.reduce((a, b) => a * b, 1);
  }
  const tokenizer = ckpt.tokenizerSource === undefined
    ? 'bundled Gemma 1 vocabulary (the checkpoint has none)'
    : ckpt.format === 'gguf' ? 'GGUF metadata (tokenizer.ggml.*)' : `Hugging Face files in ${ckpt.tokenizerSource}`;
  return {
    format: ckpt.format, path: ckpt.path, config: ckpt.config, tensorCount: ckpt.tensors.size,
    types, bytes: ckpt.totalBytes, parameters, tokenizer,
  };
}

/** What `loadModel` would load, without reading any weights. */
export async function inspectModel(source: string): Promise<ModelInfo> {
  const ckpt = await openCheckpoint(source);
  try {
    return describeCheckpoint(ckpt);
  } finally {
    await ckpt.close();
  }
}

export class Model {
  readonly config: GemmaConfig;

  constructor(private readonly gemma: GemmaModel, readonly tokenizer: Tokenizer, readonly info: ModelInfo,
    contextLength: number) {
    this.config = { ...gemma.config, contextLength };
  }

  get backend(): Backend {
    return this.gemma.backend;
  }

  /** The forward pass itself, for schedulers that batch several sequences (the server). */
  get runtime(): GemmaModel {
    return this.gemma;
  }

  createSession(): Session {
    return new Session(this.gemma, this.config.contextLength);
  }

  /** Prompt ids: plain text gets <bos> and may contain control tokens; chats use the template. */
  encodePrompt(prompt: string | ChatMessage[]): number[] {
    if (typeof prompt === 'string') return this.tokenizer.encode(prompt);
    if (!Array.isArray(prompt)) throw new GemmaError('prompt must be a string or an array of chat messages');
    return this.tokenizer.encodeChat(prompt, { addGenerationPrompt: true });
  }

  /** A multi-turn chat that keeps its KV cache between turns (see ChatSession). */
  createChat(o: ChatSessionOptions = {}): ChatSession {
    return new ChatSession(this, o);
  }

  /**
   * Perplexity over a text (tokenized with <bos>, control-token text read as plain text, as
   * llama.cpp's perplexity tool does) or over token ids, in windows of `contextSize` tokens
   * scored on their second half, as llama.cpp's perplexity tool does (see perplexity.ts).
   */
  async perplexity(input: string | readonly number[], o: PerplexityOptions = {}): Promise<PerplexityResult> {
    const ids = typeof input === 'string' ? this.tokenizer.encode(input, { parseSpecial: false }) : [...input];
    const n = o.contextSize ?? DEFAULT_PERPLEXITY_CONTEXT;
    const session = new Session(this.gemma, Number.isInteger(n) && n > 0 ? Math.min(n, this.config.contextLength) : this.config.contextLength);
    try {
      const bosId = o.bosId === undefined ? (this.tokenizer.bosId >= 0 ? this.tokenizer.bosId : null) : o.bosId;
      return await perplexity(session, ids, { ...o, contextSize: n, bosId });
    } finally {
      session.dispose();
    }
  }

  /**
   * Generates from a text prompt (with <bos>; control tokens in it are recognised) or from chat
   * messages (the chat template; message content never yields control tokens). Each call uses
   * a fresh KV cache; see createChat() for multi-turn reuse.
   */
  async generate(prompt: string | ChatMessage[], o: GenerateOptions = {}): Promise<GenerateResult> {
    const it = this.run(prompt, o);
    for (;;) {
      const r = await it.next();
      if (r.done) return r.value;
    }
  }

  async *stream(prompt: string | ChatMessage[], o: GenerateOptions = {}): AsyncGenerator<StreamChunk, GenerateResult> {
    return yield* this.run(prompt, o);
  }

  private async *run(prompt: string | ChatMessage[], o: GenerateOptions): AsyncGenerator<StreamChunk, GenerateResult> {
    const session = this.createSession();
    try {
      return yield* generateTokens(session, this.tokenizer, this.encodePrompt(prompt), o);
    } finally {
      session.dispose();
    }
  }

  async dispose(): Promise<void> {
    this.gemma.dispose();
    await this.gemma.backend.dispose();
  }
}

async function createBackend(o: LoadOptions): Promise<Backend> {
  const kind = o.backend ?? 'cpu';
  if (kind === 'ref') return new RefBackend();
  if (kind === 'cpu') return createCpuBackend({ threads: o.threads });
  throw new GemmaError(`unknown backend ${JSON.stringify(kind)} (expected "cpu" or "ref")`);
}

/** Loads an HF folder, a .safetensors file inside one, or a .gguf file. */
export async function loadModel(source: string, options: LoadOptions = {}): Promise<Model> {
  if (typeof source !== 'string' || source.length === 0) throw new GemmaError('loadModel needs a path to a model');
  const ckpt = await openCheckpoint(source);
  let backend: Backend | undefined;
  try {
    backend = await createBackend(options);
    const ctx = options.contextLength ?? ckpt.config.contextLength;
    if (!Number.isInteger(ctx) || ctx < 1 || ctx > ckpt.config.contextLength) {
      throw new GemmaError(`contextLength ${ctx} must be an integer in 1..${ckpt.config.contextLength} (the model's context length)`);
    }
    checkMemory(ckpt.config, ckpt.tensors.values(), { backend: backend.name, threads: backend.threads, contextLength: ctx, what: source, onWarning: options.onWarning });
    const tokenizer = await loadTokenizer(ckpt.tokenizerSource);
    const weights = await loadWeights(ckpt, backend, options.onProgress);
    return new Model(new GemmaModel(backend, ckpt.config, weights), tokenizer, describeCheckpoint(ckpt), ctx);
  } catch (e) {
    await backend?.dispose();
    throw e;
  } finally {
    await ckpt.close();
  }
}
