/**
 * The KV cache of one sequence: per layer, K and V as [capacity, numKvHeads · headDim] float32
 * tensors whose row p holds position p (K already rotated by RoPE). It belongs to a session,
 * not to the weights, and grows on demand up to the context length so that a short chat does
 * not pin the 8192-token worst case (300 MB for 2B, 7.5 GB for 7B in float32).
 */
import { GemmaError } from '../errors.js';
import type { Backend, Tensor } from '../backend/types.js';
import type { GemmaConfig } from './config.js';

const MIN_CAPACITY = 256;

export class KvCache {
  readonly k: Tensor[] = [];
  readonly v: Tensor[] = [];
  private cap = 0;

  constructor(private readonly backend: Backend, private readonly config: GemmaConfig,
    readonly contextLength: number) {}

  get capacity(): number {
    return this.cap;
  }

  /** Makes room for positions [0, needed); keeps the first `keep` rows. */
  reserve(needed: number, keep: number): void {
    if (needed > this.contextLength) {
      throw new GemmaError(`context is full: ${needed} tokens exceed the context length of ${this.contextLength}`);
    }
    if (needed <= this.cap) return;
    const cap = Math.min(this.contextLength, Math.max(needed, MIN_CAPACITY, this.cap * 2));
    const cols = this.config.numKvHeads * this.config.headDim;
    for (let l = 0; l < this.config.numLayers; l++) {
      for (const list of [this.k, this.v]) {
        const next = this.backend.createTensor(cap, cols);
        const old = list[l];
        if (old) {
          if (keep > 0) this.backend.copyRows(next, 0, old, 0, keep);
          this.backend.freeTensor(old);
        }
        list[l] = next;
      }
    }
    this.cap = cap;
  }

  dispose(): void {
    for (const t of [...this.k, ...this.v]) this.backend.freeTensor(t);
    this.k.length = 0;
    this.v.length = 0;
    this.cap = 0;
  }
}
