/**
 * A session is one sequence: its KV cache and the tokens in it. It accepts tokens in chunks of
 * any size (chunked prefill) and returns logits; evaluations on one session run one at a time.
 */
import { GemmaError } from '../errors.js';
import type { GemmaModel } from '../model/gemma.js';
import { KvCache } from '../model/kv-cache.js';

export interface EvalOptions {
  /** Return the logits of every appended token (ids.length × vocab, row-major), not just the last. */
  allLogits?: boolean;
}

export class Session {
  private readonly cache: KvCache;
  private readonly history: number[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  constructor(private readonly model: GemmaModel, readonly contextLength: number) {
    this.cache = new KvCache(model.backend, model.config, contextLength);
  }

  /** Tokens in the KV cache. */
  get length(): number {
    return this.history.length;
  }

  /** Size of a row of logits. */
  get vocabSize(): number {
    return this.model.config.vocabSize;
  }

  /** The tokens in the KV cache, in order. */
  get tokens(): readonly number[] {
    return this.history;
  }

  /** Appends ids at the current position and returns logits (see EvalOptions). */
  eval(ids: number[], o: EvalOptions = {}): Promise<Float32Array> {
    const run = this.queue.then(() => this.run(ids, o));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async run(ids: number[], o: EvalOptions): Promise<Float32Array> {
    if (this.disposed) throw new GemmaError('session used after dispose()');
    if (!Array.isArray(ids) || ids.length === 0) throw new GemmaError('eval needs at least one token id');
    const vocab = this.model.config.vocabSize;
    const arr = new Int32Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= vocab) {
        throw new GemmaError(`token id ${id} at index ${i} is outside the vocabulary (0..${vocab - 1})`);
      }
      arr[i] = id;
    }
    const start = this.history.length;
    if (start + ids.length > this.contextLength) {
      throw new GemmaError(`context is full: ${start} + ${ids.length} tokens exceed the context length of ${this.contextLength}`);
    }
    this.cache.reserve(start + ids.length, start);
    const logits = await this.model.forward(this.cache, arr, start, o.allLogits === true);
    for (const id of ids) this.history.push(id);
    return logits;
  }

  /** Forgets every token after the first `n` (their cache rows are overwritten later). */
  truncate(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > this.history.length) {
      throw new GemmaError(`cannot truncate a session of ${this.history.length} tokens to ${n}`);
    }
    this.history.length = n;
  }

  reset(): void {
    this.truncate(0);
  }

  dispose(): void {
    this.disposed = true;
    this.cache.dispose();
  }
}
