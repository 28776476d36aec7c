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
      this.layers(cache, chunk, startPos + done);
      if (allLogits) out.set(await this.logits(0, chunk.length), done * vocab);
      else if (last) out.set(await this.logits(chunk.length - 1, 1));
    }
    return out;
  }

  private layers(cache: KvCache, ids: Int32Array, startPos: number): void {
    const b = this.backend, c = this.config, w = this.weights, n = ids.length;
    const s = this.getScratch(n);
    const positions = new Int32Array(n);
    for (let i = 0; i < n; i++) positions[i] = startPos + i;
    b.embed(s.x, w.embed, ids, this.embedScale);
    const attn = { n, startPos, numHeads: c.numHeads, numKvHeads: c.numKvHeads, headDim: c.headDim, scale: 1 / Math.sqrt(c.headDim) };
    for (let l = 0; l < c.numLayers; l++) {
      const lw = w.layers[l];
      b.rmsNorm(s.h, s.x, lw.attnNorm, c.rmsNormEps, n);
      b.matmul(s.q, s.h, lw.q, n);
      b.matmul(s.k, s.h, lw.k, n);
      b.matmul(s.v, s.h, lw.v, n);
      b.rope(s.q, n, c.numHeads, c.headDim, positions, c.ropeTheta);
      b.rope(s.k, n, c.numKvHeads, c.headDim, positions, c.ropeTheta);
      b.copyRows(cache.k[l], startPos, s.k, 0, n);
      b.copyRows(cache.v[l], startPos, s.v, 0, n);
      b.attention(s.att, s.q, cache.k[l], cache.v[l], attn);
      b.matmul(s.o, s.att, lw.o, n);
      b.add(s.x, s.x, s.o, n);
      b.rmsNorm(s.h, s.x, lw.ffnNorm, c.rmsNormEps, n);
      b.matmul(s.gate, s.h, lw.gate, n);
      b.matmul(s.up, s.h, lw.up, n);
      b.geluMul(s.gate, s.gate, s.up, n);
      b.matmul(s.o, s.gate, lw.down, n);
      b.add(s.x, s.x, s.o, n);
    }
  }

  /** Final norm and tied head for `count` rows of the residual stream starting at `from`. */
  private async logits(from: number, count: number): Promise<Float32Array> {
    const b = this.backend, s = this.scratch!;
    if (from > 0) b.copyRows(s.h, 0, s.x, from, count);
    b.rmsNorm(s.h, from > 0 ? s.h : s.x, this.weights.outputNorm, this.config.rmsNormEps, count);
    const logits = b.createTensor(count, this.config.vocabSize);
    try {
      b.matmul(logits, s.h, this.weights.embed, count);
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
