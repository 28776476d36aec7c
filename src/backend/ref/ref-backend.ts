/**
 * The reference backend: plain TypeScript, single-threaded, float32 storage with float64
 * accumulation. It is the oracle that every faster backend is tested against, so clarity wins
 * over speed here. Numerics follow Hugging Face transformers' GemmaForCausalLM in float32
 * (modeling_gemma.py): RMSNorm and softmax in float32, tanh-approximated GELU.
 */
import type { AttentionParams, Backend, Tensor, Weight, WeightData } from '../types.js';
import type { GgmlType } from '../../formats/ggml-types.js';
import { GemmaError } from '../../errors.js';
import { hasRowDecoder, rowBytes, rowDecoder } from './rows.js';

class RefTensor implements Tensor {
  constructor(readonly rows: number, readonly cols: number, public data: Float32Array | null) {}
}

class RefWeight implements Weight {
  constructor(readonly name: string, readonly shape: readonly [number, number], readonly type: GgmlType,
    readonly bytes: Uint8Array, readonly rowBytes: number) {}
}

function t(x: Tensor): Float32Array {
  const d = (x as RefTensor).data;
  if (!d) throw new Error('tensor used after free');
  return d;
}

/** sqrt(2/pi), the constant of the tanh approximation of GELU (Hendrycks & Gimpel 2016). */
const GELU_C = Math.sqrt(2 / Math.PI);

export class RefBackend implements Backend {
  readonly name = 'ref';
  readonly threads = 1;

  supportsWeightType(type: GgmlType): boolean {
    return hasRowDecoder(type);
  }

  createWeight(name: string, data: WeightData): Weight {
    const [rows, cols] = data.shape;
    const rb = rowBytes(data.type, cols);
    if (data.bytes.byteLength !== rb * rows) {
      throw new GemmaError(`tensor ${name}: expected ${rb * rows} bytes for [${rows}, ${cols}], got ${data.bytes.byteLength}`);
    }
    rowDecoder(data.type);
    return new RefWeight(name, data.shape, data.type, data.bytes, rb);
  }

  createTensor(rows: number, cols: number): Tensor {
    return new RefTensor(rows, cols, new Float32Array(rows * cols));
  }

  write(x: Tensor, data: Float32Array, rowOffset = 0): void {
    t(x).set(data, rowOffset * x.cols);
  }

  async read(x: Tensor, rowStart = 0, rowCount = x.rows - rowStart): Promise<Float32Array> {
    return t(x).slice(rowStart * x.cols, (rowStart + rowCount) * x.cols);
  }

  copyRows(dst: Tensor, dstRow: number, src: Tensor, srcRow: number, rowCount: number): void {
    const c = src.cols;
    t(dst).set(t(src).subarray(srcRow * c, (srcRow + rowCount) * c), dstRow * dst.cols);
  }

  freeTensor(x: Tensor): void {
    (x as RefTensor).data = null;
  }

  embed(out: Tensor, table: Weight, ids: Int32Array, scale: number): void {
    const w = table as RefWeight;
    const cols = w.shape[1];
    const o = t(out);
    const decode = rowDecoder(w.type);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id < 0 || id >= w.shape[0]) throw new GemmaError(`token id ${id} is outside the vocabulary (0..${w.shape[0] - 1})`);
      const row = o.subarray(i * cols, (i + 1) * cols);
      decode(w.bytes, id * w.rowBytes, cols, row);
      // HF multiplies by the normalizer in the activation dtype (float32 here): one rounding.
      for (let j = 0; j < cols; j++) row[j] = row[j] * scale;
    }
  }

  rmsNorm(out: Tensor, x: Tensor, w: Tensor, eps: number, rows: number): void {
    const cols = x.cols, xs = t(x), os = t(out), ws = t(w);
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      let ss = 0;
      for (let j = 0; j < cols; j++) ss += xs[base + j] * xs[base + j];
      const inv = 1 / Math.sqrt(Math.fround(ss / cols) + eps);
      for (let j = 0; j < cols; j++) os[base + j] = Math.fround(xs[base + j] * inv) * ws[j];
    }
  }

  matmuls(x: Tensor, rows: number, items: readonly { out: Tensor; w: Weight }[]): void {
    for (const { out, w } of items) this.matmul(out, x, w, rows);
  }

  matmul(out: Tensor, x: Tensor, weight: Weight, rows: number): void {
    const w = weight as RefWeight;
    const [outF, inF] = w.shape;
    if (x.cols !== inF || out.cols !== outF) {
      throw new Error(`matmul ${w.name}: x has ${x.cols} cols, W is [${outF}, ${inF}], out has ${out.cols} cols`);
    }
    const xs = t(x), os = t(out);
    const decode = rowDecoder(w.type);
    const wr = new Float32Array(inF);
    for (let o = 0; o < outF; o++) {
      decode(w.bytes, o * w.rowBytes, inF, wr);
      for (let r = 0; r < rows; r++) {
        const xb = r * inF;
        let acc = 0;
        for (let j = 0; j < inF; j++) acc += xs[xb + j] * wr[j];
        os[r * outF + o] = acc;
      }
    }
  }

  rope(x: Tensor, rows: number, heads: number, headDim: number, positions: Int32Array, theta: number): void {
    const xs = t(x), half = headDim / 2;
    // Angles in float64: at position 8191 a float32 product would already be off by ~5e-4 rad.
    const invFreq = new Float64Array(half);
    for (let i = 0; i < half; i++) invFreq[i] = Math.pow(theta, (-2 * i) / headDim);
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < half; i++) {
        const a = positions[r] * invFreq[i];
        const c = Math.cos(a), s = Math.sin(a);
        for (let h = 0; h < heads; h++) {
          const b = r * x.cols + h * headDim;
          const x0 = xs[b + i], x1 = xs[b + i + half];
          xs[b + i] = x0 * c - x1 * s;
          xs[b + i + half] = x1 * c + x0 * s;
        }
      }
    }
  }

  geluMul(out: Tensor, gate: Tensor, up: Tensor, rows: number): void {
    const g = t(gate), u = t(up), o = t(out);
    const n = rows * gate.cols;
    for (let i = 0; i < n; i++) {
      const v = g[i];
      const gelu = Math.fround(0.5 * v * (1 + Math.tanh(GELU_C * (v + 0.044715 * v * v * v))));
      o[i] = gelu * u[i];
    }
  }

  add(out: Tensor, a: Tensor, b: Tensor, rows: number): void {
    const as = t(a), bs = t(b), os = t(out);
    const n = rows * a.cols;
    for (let i = 0; i < n; i++) os[i] = as[i] + bs[i];
  }

  attention(out: Tensor, q: Tensor, kCache: Tensor, vCache: Tensor, p: AttentionParams): void {
    const { n, startPos, numHeads, numKvHeads, headDim, scale } = p;
    const row0 = p.rowOffset ?? 0;
    const qs = t(q), ks = t(kCache), vs = t(vCache), os = t(out);
    const group = numHeads / numKvHeads;
    const kvCols = kCache.cols;
    const scores = new Float32Array(startPos + n);
    const acc = new Float64Array(headDim);
    for (let r = 0; r < n; r++) {
      const len = startPos + r + 1;
      for (let h = 0; h < numHeads; h++) {
        const qb = (row0 + r) * q.cols + h * headDim;
        const kvOff = Math.floor(h / group) * headDim;
        let max = -Infinity;
        for (let s = 0; s < len; s++) {
          const kb = s * kvCols + kvOff;
          let dot = 0;
          for (let d = 0; d < headDim; d++) dot += qs[qb + d] * ks[kb + d];
          const v = Math.fround(Math.fround(dot) * scale);
          scores[s] = v;
          if (v > max) max = v;
        }
        let sum = 0;
        for (let s = 0; s < len; s++) {
          const e = Math.fround(Math.exp(scores[s] - max));
          scores[s] = e;
          sum += e;
        }
        acc.fill(0);
        for (let s = 0; s < len; s++) {
          const pr = Math.fround(scores[s] / sum);
          const vb = s * kvCols + kvOff;
          for (let d = 0; d < headDim; d++) acc[d] += pr * vs[vb + d];
        }
        const ob = (row0 + r) * out.cols + h * headDim;
        for (let d = 0; d < headDim; d++) os[ob + d] = acc[d];
      }
    }
  }

  async dispose(): Promise<void> {}
}
