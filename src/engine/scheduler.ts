/**
 * Continuous batching: many generations share every forward pass.
 *
 * The scheduler owns `parallel` slots, each a KV cache with the tokens it holds. Requests wait
 * in a FIFO queue until a slot is free. One loop runs the model: each step gathers the next
 * token of every sequence that is decoding plus a chunk of the prompts being evaluated (at most
 * `prefillChunk` prompt tokens per step, so that a long prompt does not stall the sequences
 * decoding beside it), makes one `forwardBatch` call (one pass over the weights for all of
 * them), then samples for each sequence whose prompt is complete. A sequence that finishes
 * frees its slot at once; the next waiting request starts in the following step.
 *
 * A request's tokens are those `generateTokens` gives for the same prompt, options and seed: the
 * same sampler chain, context policy, stop handling and streaming text, with state (seeded Rng,
 * penalty history, stop matcher, stream decoder) per request. The batched forward pass equals
 * the single-sequence one to float32 rounding (test/model/batch.test.ts), so results can differ
 * only where two candidates' logits tie within that rounding.
 *
 * Prefix reuse: a slot keeps its cache after its request ends. A new request goes to the free
 * slot whose cached tokens share the longest beginning with its prompt, and only the rest of
 * the prompt is evaluated (usage.cachedTokens).
 *
 * Abort (the request's signal, or `cancel()`, or leaving the iterator early) takes effect at the
 * next step boundary: the request ends with finishReason 'abort' and its slot is free again.
 */
import { GemmaError } from '../errors.js';
import { GemmaModel, type BatchItem } from '../model/gemma.js';
import { KvCache } from '../model/kv-cache.js';
import { Rng, randomSeed } from '../sampling/rng.js';
import { resolveSampling, sample, type ResolvedSampling } from '../sampling/sampler.js';
import type { StreamDecoder, Tokenizer } from '../tokenizer/types.js';
import { checkGenerateOptions, DEFAULT_MAX_TOKENS, StopMatcher, TokenDescriber, yieldToEventLoop } from './generate.js';
import type { FinishReason, GenerateOptions, GenerateResult, StreamChunk, TokenLogprob } from './types.js';

/** What the scheduler needs from a loaded model (a `Model` has all three). */
export interface SchedulerHost {
  readonly runtime: GemmaModel;
  readonly tokenizer: Tokenizer;
  readonly config: { readonly contextLength: number };
}

export interface SchedulerOptions {
  /** Sequences decoded together, each in its own KV cache slot (default 4, at most 64). */
  parallel?: number;
  /** Tokens each slot holds, prompt and answer (default and maximum: the model's context length). */
  contextLength?: number;
  /** Requests that may wait for a slot; one more is refused with QueueFullError (default 64). */
  maxQueue?: number;
  /**
   * Most prompt tokens evaluated in one step, all prompts together (default 64). On a CPU a
   * step's time grows with its tokens: this bounds how long a new prompt delays the next token of
   * every sequence already decoding, at the price of more steps for a long prompt.
   */
  prefillChunk?: number;
}

export const SCHEDULER_DEFAULTS = Object.freeze({ parallel: 4, maxQueue: 64, prefillChunk: 64 });
const MAX_PARALLEL = 64;

/** Every slot is busy and the queue is full; retry later. */
export class QueueFullError extends GemmaError {
  constructor(readonly queued: number) {
    super(`the server is busy: ${queued} requests are already waiting for a slot; retry later`);
    this.name = 'QueueFullError';
  }
}

/** The scheduler was closed (the server is shutting down). */
export class SchedulerClosedError extends GemmaError {
  constructor() {
    super('the scheduler is closed');
    this.name = 'SchedulerClosedError';
  }
}

/** The prompt (with maxTokens, when given) does not fit in a slot's context. */
export class ContextOverflowError extends GemmaError {
  constructor(message: string, readonly promptTokens: number, readonly contextLength: number) {
    super(message);
    this.name = 'ContextOverflowError';
  }
}

export interface SchedulerStats {
  slots: number;
  /** Slots running a request. */
  busy: number;
  /** Requests waiting for a slot. */
  queued: number;
}


interface Slot {
  readonly cache: KvCache;
  /** Tokens whose K/V rows the cache holds, in position order. */
  tokens: number[];
  job: Job | undefined;
}

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/** One request's state inside the scheduler; its Generation is what callers hold. */
class Job {
  readonly handle: Generation;
  readonly result: Promise<GenerateResult>;
  readonly seed: number;
  readonly rng: Rng;
  readonly stops: StopMatcher;
  readonly decoder: StreamDecoder;
  readonly describer: TokenDescriber | undefined;
  /** What the penalties see: the prompt, then every generated token. */
  readonly history: number[];
  readonly tokens: number[] = [];
  readonly logprobs: TokenLogprob[] = [];
  /** Prompt tokens in the slot's cache (reused ones included). */
  evaluated = 0;
  cachedTokens = 0;
  /** Prompt tokens this request evaluated itself. */
  promptEvaluated = 0;
  /** The sampled token to evaluate in the next step. */
  pending = -1;
  cancelled = false;
  slot: Slot | undefined;
  tStart = 0;
  tPrompt = 0;
  /** Chunks not yet taken by the iterator. */
  readonly chunks: StreamChunk[] = [];
  outcome: { result: GenerateResult } | { error: unknown } | undefined;
  private waiter: (() => void) | undefined;
  private settle!: { resolve: (r: GenerateResult) => void; reject: (e: unknown) => void };
  private readonly dropAbortListener: () => void;

  constructor(readonly prompt: readonly number[], readonly options: GenerateOptions, readonly limit: number,
    readonly sampling: ResolvedSampling, tokenizer: Tokenizer, private readonly onCancel: (job: Job) => void) {
    this.seed = options.seed ?? randomSeed();
    this.rng = new Rng(this.seed);
    this.stops = new StopMatcher((options.stop ?? []).filter((s) => s.length > 0));
    this.decoder = tokenizer.createStreamDecoder();
    this.describer = options.logprobs !== undefined ? new TokenDescriber(tokenizer) : undefined;
    this.history = [...prompt];
    this.result = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    this.result.catch(() => undefined); // the error also reaches whoever iterates
    const signal = options.signal;
    const abort = () => this.cancel();
    signal?.addEventListener('abort', abort, { once: true });
    this.dropAbortListener = () => signal?.removeEventListener('abort', abort);
    this.handle = new Generation(this);
    if (signal?.aborted) this.cancelled = true;
  }

  cancel(): void {
    if (this.cancelled || this.outcome) return;
    this.cancelled = true;
    this.onCancel(this);
  }

  emit(chunk: StreamChunk): void {
    this.chunks.push(chunk);
    this.wake();
  }

  end(outcome: { result: GenerateResult } | { error: unknown }): void {
    if (this.outcome) return;
    this.outcome = outcome;
    this.dropAbortListener();
    if ('result' in outcome) this.settle.resolve(outcome.result);
    else this.settle.reject(outcome.error);
    this.wake();
  }

  /** Resolves when a chunk or the outcome arrives. */
  changed(): Promise<void> {
    return new Promise<void>((resolve) => (this.waiter = resolve));
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}

/**
 * A queued or running request. Iterating it yields its chunks (as generateTokens does) and
 * returns the result; `result` resolves to the same result whether or not anyone iterates.
 */
export class Generation implements AsyncIterableIterator<StreamChunk, GenerateResult> {
  /** @internal */
  constructor(private readonly job: Job) {}

  get result(): Promise<GenerateResult> {
    return this.job.result;
  }

  /** Prompt tokens (the whole prompt, reused ones included). */
  get promptTokens(): number {
    return this.job.prompt.length;
  }

  /** The seed sampling uses. */
  get seed(): number {
    return this.job.seed;
  }

  get finished(): boolean {
    return this.job.outcome !== undefined;
  }

  /** Stops the generation at the next step boundary (finishReason 'abort'); a queued one ends at once. */
  cancel(): void {
    this.job.cancel();
  }

  async next(): Promise<IteratorResult<StreamChunk, GenerateResult>> {
    const job = this.job;
    for (;;) {
      const chunk = job.chunks.shift();
      if (chunk) return { done: false, value: chunk };
      if (job.outcome) {
        if ('error' in job.outcome) throw job.outcome.error;
        return { done: true, value: job.outcome.result };
      }
      await job.changed();
    }
  }

  /** Leaving a `for await` early cancels the generation. */
  async return(): Promise<IteratorResult<StreamChunk, GenerateResult>> {
    this.job.cancel();
    this.job.chunks.length = 0;
    try {
      return { done: true, value: await this.job.result };
    } catch {
      return { done: true, value: undefined as never };
    }
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

export class Scheduler {
  readonly parallel: number;
  readonly contextLength: number;
  readonly maxQueue: number;
  readonly prefillChunk: number;
  private readonly slots: Slot[];
  private readonly queue: Job[] = [];
  /** Requests in slots, in the order they were admitted. */
  private readonly active: Job[] = [];
  private wakeLoop: (() => void) | undefined;
  private closed = false;
  private readonly loopDone: Promise<void>;

  constructor(private readonly host: SchedulerHost, o: SchedulerOptions = {}) {
    if (typeof o !== 'object' || o === null) throw new GemmaError('scheduler options must be an object');
    const int = (name: string, v: number | undefined, def: number, min: number, max: number) => {
      const x = v ?? def;
      if (!Number.isInteger(x) || x < min || x > max) throw new GemmaError(`${name} must be an integer in ${min}..${max}, got ${String(v)}`);
      return x;
    };
    const modelCtx = host.config.contextLength;
    this.parallel = int('parallel', o.parallel, SCHEDULER_DEFAULTS.parallel, 1, MAX_PARALLEL);
    this.contextLength = int('contextLength', o.contextLength, modelCtx, 2, modelCtx);
    this.maxQueue = int('maxQueue', o.maxQueue, SCHEDULER_DEFAULTS.maxQueue, 0, 1_000_000);
    this.prefillChunk = int('prefillChunk', o.prefillChunk, SCHEDULER_DEFAULTS.prefillChunk, 1, GemmaModel.MAX_BATCH);
    const runtime = host.runtime;
    this.slots = Array.from({ length: this.parallel }, () => ({
      cache: new KvCache(runtime.backend, runtime.config, this.contextLength), tokens: [], job: undefined,
    }));
    this.loopDone = this.loop();
  }

  get stats(): SchedulerStats {
    return { slots: this.parallel, busy: this.active.length, queued: this.queue.length };
  }

  /**
   * Queues a generation after `promptIds` (with <bos> first, as Model.encodePrompt gives).
   * Bad options, a prompt that does not fit and a full queue throw here (GemmaError,
   * ContextOverflowError, QueueFullError), before anything runs.
   */
  submit(promptIds: readonly number[], o: GenerateOptions = {}): Generation {
    if (this.closed) throw new SchedulerClosedError();
    checkGenerateOptions(o);
    const vocab = this.host.runtime.config.vocabSize;
    if (!Array.isArray(promptIds) || promptIds.length === 0) throw new GemmaError('the prompt is empty');
    for (let i = 0; i < promptIds.length; i++) {
      const id = promptIds[i];
      if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new GemmaError(`token id ${String(id)} at index ${i} is outside the vocabulary (0..${vocab - 1})`);
    }
    // generateTokens's context policy, for a fresh sequence.
    const n = promptIds.length, ctx = this.contextLength, free = ctx - n;
    if (free < 1) {
      throw new ContextOverflowError(`the prompt (${n} tokens) does not fit in the context (${ctx} tokens) with room for an answer`, n, ctx);
    }
    let limit: number;
    if (o.maxTokens === undefined) limit = Math.min(DEFAULT_MAX_TOKENS, free);
    else if (o.maxTokens === -1) limit = free;
    else if (o.maxTokens > free) {
      throw new ContextOverflowError(`the prompt (${n} tokens) plus maxTokens (${o.maxTokens}) exceeds the context length (${ctx}); ` +
        'lower maxTokens, shorten the prompt or use a larger context', n, ctx);
    } else limit = o.maxTokens;
    const sampling = resolveSampling(o, vocab);
    if (o.ignoreEos) {
      const bias = new Map(sampling.logitBias);
      for (const id of this.host.tokenizer.stopIds) if (id < vocab) bias.set(id, -Infinity);
      sampling.logitBias = [...bias.entries()].sort((a, b) => a[0] - b[0]);
    }
    // Requests that would still wait once every free slot is taken.
    const waiting = this.queue.length + 1 - (this.parallel - this.active.length);
    if (waiting > this.maxQueue) throw new QueueFullError(this.queue.length);
    const job = new Job([...promptIds], o, limit, sampling, this.host.tokenizer, (j) => this.onCancel(j));
    this.queue.push(job);
    this.wakeLoop?.();
    return job.handle;
  }

  /** Aborts every request, waits for the running step to end and frees the caches. */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      for (const job of [...this.queue, ...this.active]) job.cancel();
      this.wakeLoop?.();
    }
    await this.loopDone;
    for (const s of this.slots) s.cache.dispose();
  }

  private onCancel(job: Job): void {
    const i = this.queue.indexOf(job);
    if (i >= 0) {
      this.queue.splice(i, 1); // never started: ends at once
      this.finish(job, 'abort');
    }
    this.wakeLoop?.(); // a running one ends before the next step
  }

  private async loop(): Promise<void> {
    for (;;) {
      for (const job of [...this.active]) if (job.cancelled) this.finish(job, 'abort');
      if (this.closed && this.active.length === 0 && this.queue.length === 0) return;
      this.admit();
      if (this.active.length === 0) {
        await new Promise<void>((resolve) => (this.wakeLoop = resolve));
        this.wakeLoop = undefined;
        continue;
      }
      await this.step();
      await yieldToEventLoop(); // sockets flush and new requests arrive between two steps
    }
  }

  /** Moves waiting requests into free slots, each to the one sharing the longest prefix with it. */
  private admit(): void {
    while (this.queue.length > 0) {
      const free = this.slots.filter((s) => s.job === undefined);
      if (free.length === 0) return;
      const job = this.queue.shift()!;
      let best = free[0], bestLen = -1;
      for (const s of free) {
        const len = commonPrefix(s.tokens, job.prompt);
        if (len > bestLen) { best = s; bestLen = len; }
      }
      // At least the last prompt token is evaluated: its logits give the first token.
      const reuse = Math.min(bestLen, job.prompt.length - 1);
      best.tokens.length = reuse;
      best.job = job;
      job.slot = best;
      job.evaluated = job.cachedTokens = reuse;
      job.tStart = performance.now();
      this.active.push(job);
    }
  }

  private async step(): Promise<void> {
    const items: BatchItem[] = [];
    const owners: { job: Job; slot: Slot; ids: number[]; prefill: boolean }[] = [];
    const add = (job: Job, ids: number[], prefill: boolean) => {
      const slot = job.slot!;
      items.push({ cache: slot.cache, ids: Int32Array.from(ids), startPos: slot.tokens.length });
      owners.push({ job, slot, ids, prefill });
    };
    // Every decoding sequence advances by one token; prompts fill the rest of the step's budget.
    for (const job of this.active) if (job.evaluated === job.prompt.length) add(job, [job.pending], false);
    let budget = Math.min(this.prefillChunk, GemmaModel.MAX_BATCH - items.length);
    for (const job of this.active) {
      if (budget <= 0) break;
      if (job.evaluated === job.prompt.length) continue;
      const ids = job.prompt.slice(job.evaluated, job.evaluated + budget);
      add(job, ids, true);
      budget -= ids.length;
    }
    if (items.length === 0) return;
    let logits: Float32Array[];
    try {
      for (const it of items) it.cache.reserve(it.startPos + it.ids.length, it.startPos);
      logits = await this.host.runtime.forwardBatch(items);
    } catch (e) {
      // The backend failed (out of memory, a bug): these requests fail, the others go on.
      for (const { job, slot } of owners) {
        slot.tokens = []; // the cache may hold partial rows
        this.fail(job, e);
      }
      return;
    }
    owners.forEach(({ job, slot, ids, prefill }, i) => {
      for (const id of ids) slot.tokens.push(id);
      if (prefill) {
        job.evaluated += ids.length;
        job.promptEvaluated += ids.length;
        if (job.evaluated < job.prompt.length) return;
        job.tPrompt = performance.now();
      }
      if (job.cancelled) return; // ends before the next step
      try {
        this.advance(job, logits[i]);
      } catch (e) {
        this.fail(job, e);
      }
    });
  }

  private fail(job: Job, e: unknown): void {
    this.release(job);
    job.end({ error: e });
  }

  /** One iteration of generateTokens's loop: sample, check the stops, emit. */
  private advance(job: Job, logits: Float32Array): void {
    if (job.tokens.length >= job.limit) return this.finish(job, 'length');
    const token = sample(logits, job.sampling, job.rng, job.history);
    if (this.host.tokenizer.stopIds.includes(token)) return this.finish(job, 'stop');
    job.tokens.push(token);
    job.history.push(token);
    const logprob = job.describer?.entry(logits, token, job.options.logprobs!);
    if (logprob) job.logprobs.push(logprob);
    const { text, stopped } = job.stops.push(job.decoder.push(token));
    job.emit(logprob ? { text, token, logprob } : { text, token });
    if (stopped) return this.finish(job, 'stop');
    if (job.tokens.length >= job.limit) return this.finish(job, 'length');
    job.pending = token;
  }

  private release(job: Job): void {
    if (job.slot) {
      job.slot.job = undefined;
      job.slot = undefined;
    }
    const i = this.active.indexOf(job);
    if (i >= 0) this.active.splice(i, 1);
  }

  private finish(job: Job, reason: FinishReason): void {
    if (job.outcome) return;
    this.release(job);
    let finishReason = reason;
    // Release what the decoder and the stop matcher still hold (a final chunk with token -1).
    const tail = job.stops.push(job.decoder.flush());
    if (tail.stopped) finishReason = 'stop';
    const rest = tail.stopped ? tail.text : tail.text + job.stops.flush();
    if (rest) job.emit({ text: rest, token: -1 });
    const now = performance.now();
    const promptMs = job.tStart > 0 ? (job.tPrompt > 0 ? job.tPrompt : now) - job.tStart : 0;
    const decodeMs = job.tPrompt > 0 ? now - job.tPrompt : 0;
    const n = job.tokens.length;
    job.end({
      result: {
        text: job.stops.fullText,
        tokens: job.tokens,
        finishReason,
        seed: job.seed,
        usage: { promptTokens: job.prompt.length, cachedTokens: job.cachedTokens, completionTokens: n },
        timings: {
          promptMs, promptTokensPerSecond: job.promptEvaluated > 0 && promptMs > 0 ? (job.promptEvaluated * 1000) / promptMs : 0,
          decodeMs, decodeTokensPerSecond: n > 1 && decodeMs > 0 ? ((n - 1) * 1000) / decodeMs : 0,
        },
        ...(job.describer ? { logprobs: job.logprobs } : {}),
      },
    });
  }
}
