/**
 * The Gemma 1 forward pass, following Hugging Face transformers' modeling_gemma.py (float32):
 *
 *   x = embed(ids) · sqrt(hidden)                          normalizer in float32 (8 for hidden 64)
 *   per layer:  h = RMSNorm(x)·(1+w);  q,k,v = h·Wqᵀ, h·Wkᵀ, h·Wvᵀ;  RoPE(q, k)
 *               x += softmax(q·kᵀ/sqrt(headDim) + causal) · v · Woᵀ
 *               h = RMSNorm(x)·(1+w);  x += (gelu_tanh(h·Wgateᵀ) ⊙ h·Wupᵀ) · Wdownᵀ
 *   logits = RMSNorm(x)·(1+w) · Embedᵀ                    tied head, not scaled
 *
 * Model code sees only the Backend interface; it never knows how kernels run.
 */
import type { Backend, Tensor } from '../backend/types.js';
import type { GemmaConfig } from './config.js';
import type { KvCache } from './kv-cache.js';
import type { GemmaWeights } from './weights.js';

/** One sequence's rows within a batch. */
interface Segment { cache: KvCache; startPos: number; rowStart: number; n: number }

export interface BatchItem {
  cache: KvCache;
  ids: Int32Array;
  /** Cache position of ids[0]. */
  startPos: number;
}

/** Activation buffers for up to `capacity` tokens, reused across calls. */
class Scratch {
  readonly x: Tensor; readonly h: Tensor; readonly q: Tensor; readonly k: Tensor; readonly v: Tensor;
  readonly att: Tensor; readonly o: Tensor; readonly gate: Tensor; readonly up: Tensor;

  constructor(private readonly backend: Backend, c: GemmaConfig, readonly capacity: number) {
    const qCols = c.numHeads * c.headDim, kvCols = c.numKvHeads * c.headDim;
    const mk = (cols: number) => backend.createTensor(capacity, cols);
    this.x = mk(c.hiddenSize); this.h = mk(c.hiddenSize); this.o = mk(c.hiddenSize);
    this.q = mk(qCols); this.att = mk(qCols); this.k = mk(kvCols); this.v = mk(kvCols);
    this.gate = mk(c.intermediateSize); this.up = mk(c.intermediateSize);
  }

  free(): void {
    for (const t of [this.x, this.h, this.q, this.k, this.v, this.att, this.o, this.gate, this.up]) this.backend.freeTensor(t);
  }
}

export class GemmaModel {
  /** Largest number of tokens pushed through the layers at once; longer inputs are split. */
  static readonly MAX_BATCH = 256;
  private scratch: Scratch | undefined;
  /** sqrt(hidden) rounded to float32, as HF computes the normalizer in the activation dtype. */
  private readonly embedScale: number;

  constructor(readonly backend: Backend, readonly config: GemmaConfig, readonly weights: GemmaWeights) {
    this.embedScale = Math.fround(Math.sqrt(config.hiddenSize));
  }

  private getScratch(n: number): Scratch {
    if (!this.scratch || this.scratch.capacity < n) {
      this.scratch?.free();
      this.scratch = new Scratch(this.backend, this.config, Math.min(GemmaModel.MAX_BATCH, Math.max(n, 1)));
    }
    return this.scratch;
  }

  /**
   * Runs `ids` at positions startPos.. through the model, writing K/V into `cache` (which must
   * already have room), and returns logits: of the last token, or of every token (row-major).
   */
  async forward(cache: KvCache, ids: Int32Array, startPos: number, allLogits: boolean): Promise<Float32Array> {
    const vocab = this.config.vocabSize;
    const out = new Float32Array((allLogits ? ids.length : 1) * vocab);
    for (let done = 0; done < ids.length; done += GemmaModel.MAX_BATCH) {
      const chunk = ids.subarray(done, Math.min(ids.length, done + GemmaModel.MAX_BATCH));
      const last = done + chunk.length === ids.length;
      this.layers(chunk, [{ cache, startPos: startPos + done, rowStart: 0, n: chunk.length }]);
      if (allLogits) out.set(await this.logits([...Array(chunk.length).keys()]), done * vocab);
      else if (last) out.set(await this.logits([chunk.length - 1]));
    }
    return out;
  }

  /**
   * Several sequences in one pass (continuous batching): their rows share every weight read,
   * and each attends only to its own cache. Returns the last-token logits of each item.
   * The items' tokens together must not exceed MAX_BATCH; caches must already have room.
   */
  async forwardBatch(items: readonly BatchItem[]): Promise<Float32Array[]> {
    const total = items.reduce((n, it) => n + it.ids.length, 0);
    if (total > GemmaModel.MAX_BATCH) throw new Error(`forwardBatch: ${total} tokens exceed MAX_BATCH ${GemmaModel.MAX_BATCH}`);
    const ids = new Int32Array(total);
    const segments: Segment[] = [];
    let row = 0;
    for (const it of items) {
      if (it.ids.length === 0) throw new Error('forwardBatch: an item has no tokens');
      ids.set(it.ids, row);
      segments.push({ cache: it.cache, startPos: it.startPos, rowStart: row, n: it.ids.length });
      row += it.ids.length;
    }
    this.layers(ids, segments);
    const logits = await this.logits(segments.map((g) => g.rowStart + g.n - 1));
    const vocab = this.config.vocabSize;
    return segments.map((_, i) => logits.slice(i * vocab, (i + 1) * vocab));
  }

  private layers(ids: Int32Array, segments: readonly Segment[]): void {
    const b = this.backend, c = this.config, w = this.weights, n = ids.length;
    const s = this.getScratch(n);
    const positions = new Int32Array(n);
    for (const g of segments) for (let i = 0; i < g.n; i++) positions[g.rowStart + i] = g.startPos + i;
    b.embed(s.x, w.embed, ids, this.embedScale);
    const scale = 1 / Math.sqrt(c.headDim);
    for (let l = 0; l < c.numLayers; l++) {
      const lw = w.layers[l];
      b.rmsNorm(s.h, s.x, lw.attnNorm, c.rmsNormEps, n);
      b.matmuls(s.h, n, [{ out: s.q, w: lw.q }, { out: s.k, w: lw.k }, { out: s.v, w: lw.v }]);
      b.rope(s.q, n, c.numHeads, c.headDim, positions, c.ropeTheta);
      b.rope(s.k, n, c.numKvHeads, c.headDim, positions, c.ropeTheta);
      for (const g of segments) {
        b.copyRows(g.cache.k[l], g.startPos, s.k, g.rowStart, g.n);
        b.copyRows(g.cache.v[l], g.startPos, s.v, g.rowStart, g.n);
        b.attention(s.att, s.q, g.cache.k[l], g.cache.v[l], {
          n: g.n, startPos: g.startPos, rowOffset: g.rowStart, numHeads: c.numHeads, numKvHeads: c.numKvHeads, headDim: c.headDim, scale,
        });
      }
      b.matmul(s.o, s.att, lw.o, n);
      b.add(s.x, s.x, s.o, n);
      b.rmsNorm(s.h, s.x, lw.ffnNorm, c.rmsNormEps, n);
      b.matmuls(s.h, n, [{ out: s.gate, w: lw.gate }, { out: s.up, w: lw.up }]);
      b.geluMul(s.gate, s.gate, s.up, n);
      b.matmul(s.o, s.gate, lw.down, n);
      b.add(s.x, s.x, s.o, n);
    }
  }

  /** Final norm and tied head for the given rows of the residual stream. */
  private async logits(rows: readonly number[]): Promise<Float32Array> {
    const b = this.backend, s = this.scratch!;
    const contiguous = rows.every((r, i) => r === i);
    if (!contiguous) rows.forEach((r, i) => b.copyRows(s.h, i, s.x, r, 1));
    b.rmsNorm(s.h, contiguous ? s.x : s.h, this.weights.outputNorm, this.config.rmsNormEps, rows.length);
    const logits = b.createTensor(rows.length, this.config.vocabSize);
    try {
      b.matmul(logits, s.h, this.weights.embed, rows.length);
      return await b.read(logits);
    } finally {
      b.freeTensor(logits);
    }
  }

  dispose(): void {
    this.scratch?.free();
    this.scratch = undefined;
  }
}
