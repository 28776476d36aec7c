/**
 * The backend interface: the only thing model code knows about compute.
 *
 * Kernels behind it know nothing about Gemma. Activations are float32 tensors owned by the
 * backend (a JS array, a region of WebAssembly memory, or a GPU buffer); model code moves data
 * across the boundary only with `write` (token embeddings are looked up on the backend, so in
 * practice only positions and ids cross) and `read` (logits).
 *
 * Conventions (as in ggml and PyTorch's `nn.Linear`):
 * - 2-D activations are row-major `[rows, cols]`; row t is token t of a batch.
 * - A weight matrix has shape `[outFeatures, inFeatures]`, stored in its file's row layout
 *   (F32, F16, BF16 or a GGML block-quantized type); `matmul` computes `out = x · Wᵀ`.
 * - Every op writes into a caller-provided output; no op allocates on the hot path.
 */
import type { GgmlType } from '../formats/ggml-types.js';

/** Raw weight data as it is stored in a checkpoint: `bytes` holds `shape[0]` rows in `type`'s layout. */
export interface WeightData {
  readonly shape: readonly [number, number];
  readonly type: GgmlType;
  readonly bytes: Uint8Array;
}

/** An opaque weight handle; the backend may have repacked or split it. */
export interface Weight {
  readonly name: string;
  readonly shape: readonly [number, number];
  readonly type: GgmlType;
}

/** An opaque float32 activation tensor `[rows, cols]` (1-D vectors have rows = 1). */
export interface Tensor {
  readonly rows: number;
  readonly cols: number;
}

export interface AttentionParams {
  /** Number of query rows in `q` (tokens in this chunk). */
  readonly n: number;
  /** Cache position of the first query row; row t attends to cache positions 0..startPos+t. */
  readonly startPos: number;
  /** Rows of `q` and `out` used: rowOffset .. rowOffset + n − 1 (default 0; for batches of sequences). */
  readonly rowOffset?: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  /** Multiplies q·k before the softmax (Gemma 1: 1/sqrt(headDim)). */
  readonly scale: number;
}

export interface Backend {
  readonly name: string;
  /** Worker threads in use (1 for single-threaded backends). */
  readonly threads: number;
  supportsWeightType(type: GgmlType): boolean;

  /** Takes a weight; `data.bytes` may be kept (not copied), so callers must not reuse it. */
  createWeight(name: string, data: WeightData): Weight;
  /** A zero-filled float32 tensor. */
  createTensor(rows: number, cols: number): Tensor;
  /** Copies `data` into `t` starting at row `rowOffset`. */
  write(t: Tensor, data: Float32Array, rowOffset?: number): void;
  /** Copies rows [rowStart, rowStart + rowCount) of `t` out. */
  read(t: Tensor, rowStart?: number, rowCount?: number): Promise<Float32Array>;
  /** dst[dstRow + i] = src[srcRow + i] for i < rowCount (same cols). */
  copyRows(dst: Tensor, dstRow: number, src: Tensor, srcRow: number, rowCount: number): void;
  /** Frees a tensor; using it afterwards is an error. */
  freeTensor(t: Tensor): void;

  /** out[i] = table[ids[i]] * scale, rows of the weight dequantized to float32. */
  embed(out: Tensor, table: Weight, ids: Int32Array, scale: number): void;
  /** RMSNorm of each row of x (first `rows` rows): x / sqrt(mean(x²) + eps) * w, w a [1, cols] tensor. */
  rmsNorm(out: Tensor, x: Tensor, w: Tensor, eps: number, rows: number): void;
  /** out[t] = x[t] · Wᵀ for the first `rows` rows of x. */
  matmul(out: Tensor, x: Tensor, w: Weight, rows: number): void;
  /**
   * `matmul(out, x, w, rows)` for each item, on the same x (a layer's q/k/v, or gate/up): a
   * backend may run them as one operation (quantizing x once, one parallel region).
   */
  matmuls(x: Tensor, rows: number, items: readonly { out: Tensor; w: Weight }[]): void;
  /**
   * Rotary embedding in place on the first `rows` rows of x, viewed as [rows, heads, headDim]:
   * dimension i is rotated with i + headDim/2 ("rotate half"), angle = positions[t] · theta^(-2i/headDim).
   */
  rope(x: Tensor, rows: number, heads: number, headDim: number, positions: Int32Array, theta: number): void;
  /** out = gelu_tanh(gate) * up, elementwise over the first `rows` rows. */
  geluMul(out: Tensor, gate: Tensor, up: Tensor, rows: number): void;
  /** out = a + b, elementwise over the first `rows` rows. */
  add(out: Tensor, a: Tensor, b: Tensor, rows: number): void;
  /**
   * Causal attention of `n` query rows against the first startPos + n rows of the caches
   * (rows are positions, cols = numKvHeads · headDim). Query head h uses KV head
   * floor(h / (numHeads / numKvHeads)). Softmax in float32 with max subtraction.
   */
  attention(out: Tensor, q: Tensor, kCache: Tensor, vCache: Tensor, p: AttentionParams): void;

  dispose(): Promise<void>;
}
