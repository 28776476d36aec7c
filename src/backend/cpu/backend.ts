/**
 * The CPU backend: WebAssembly SIMD kernels (assembly/) on worker threads sharing memory.
 *
 * Memory: tensors and weights live in arenas, shared wasm32 memories of up to 4 GiB each
 * (arenas.ts). Arena 0 holds activations, the KV cache, scratch and up to 3 GiB of weights;
 * larger models continue in further arenas, a weight split by rows where it crosses one. Every
 * thread has a kernel instance on every arena; an op runs in the arena of its largest operand
 * and the backend copies the other operands in and the results out (a few KB per decode op).
 *
 * Threads (pool.ts): the calling thread plus `threads − 1` workers; each op is split into
 * dynamic chunks of output rows (or rows, heads, blocks); spin barriers separate an op's phases.
 *
 * Weights (weights.ts): Q8_0, Q4_0, Q4_K and Q5_K are repacked at load time into quads of four
 * interleaved rows; the other block types (Q4_1, Q5_0, Q5_1, Q6_K) stay in
 * their GGUF layout. Nothing is dequantized ahead of time.
 * Activations: for one token (decode) and batches below FLOAT_GEMM_MIN_ROWS, block-quantized
 * weights are multiplied with integer dot products against activations quantized per row to
 * Q8_0 blocks, as llama.cpp does (it uses Q8_1/Q8_K blocks for some types); F32/F16/BF16
 * matvecs use float32 activations and convert the weights on the fly. Larger batches (prompts)
 * of the other types decode panels of 4 weight rows to float32 in per-thread scratch and run a
 * 4×2 float32 tile over float32 activations: faster there, and unquantized. The row-quad types
 * (Q4_0, Q4_K, Q5_K, Q8_0) stay integer at every batch size (matmulPath).
 *
 * Numerics follow the reference backend: float32 storage, RMSNorm and RoPE rounding exactly as
 * it does, tanh GELU, softmax in float32 with max subtraction; accumulations are float32.
 */
import type { AttentionParams, Backend, Tensor, Weight, WeightData } from '../types.js';
import type { GgmlType } from '../../formats/ggml-types.js';
import { GemmaError } from '../../errors.js';
import type { Arena } from './arena.js';
import { Arenas, type Shard } from './arenas.js';
import { Pool, type OpName } from './pool.js';
import { ropeTable } from './rope-table.js';
import { createWeight, CpuWeight, LAYOUT_Q4_0R4, LAYOUT_Q4_KR4, LAYOUT_Q5_KR4, LAYOUT_Q8_0R4, SUPPORTED } from './weights.js';
import type { KernelModule } from './wasm.js';

/** Layouts whose four-row kernels read the interleaved int8 activation copy (assembly/quad.ts). */
const NIBBLE_QUADS: ReadonlySet<number> = new Set([LAYOUT_Q4_0R4, LAYOUT_Q4_KR4, LAYOUT_Q5_KR4]);

class CpuTensor implements Tensor {
  freed = false;
  /** Where the data lives; the backend may move a tensor to another arena (see colocate). */
  constructor(readonly rows: number, readonly cols: number, public arena: Arena, public ptr: number) {}
}

interface Operand { t: CpuTensor; rows: number; rowOffset?: number; read: boolean; write: boolean }

/**
 * Work (roughly nanoseconds on one thread) below which an op runs on the calling thread alone:
 * a parallel op costs a few µs of synchronisation, and far more when another process holds the
 * core a worker needs. Decode-sized elementwise ops stay on one thread; matvecs do not.
 */
const DEFAULT_MIN_PARALLEL = 1 << 17;
/** At most this many matmuls run as one kernel in `matmuls` (matmulQuant's argument slots, assembly/matmul.ts). */
const MAX_FUSED = 3;
/** Panel height of the float matmul path (assembly/matmul.ts). */
const PANEL = 4;
/**
 * Batches of at least this many rows take the float path for the block types kept in rows
 * (Q4_1, Q5_0, Q5_1, Q6_K; see matmulPath): decoding a panel of weight rows once and
 * running float32 tiles over the whole batch is faster than their integer dot products per
 * (weight row, activation row), and keeps activations unquantized.
 */
export const FLOAT_GEMM_MIN_ROWS = 32;
/** Query heads per attention work item (assembly/ops.ts). */
const HEADS_PER_ITEM = 4;

/** Chunks of output rows for the matmul kernels: ~24 per thread for balance, multiples of 16 (whole Q4_0 quads). */
function rowChunk(rows: number, threads: number): number {
  return Math.min(512, Math.max(16, Math.ceil(rows / (threads * 24) / 16) * 16));
}

function tensor(t: Tensor): CpuTensor {
  const c = t as CpuTensor;
  if (!(c instanceof CpuTensor)) throw new Error('tensor does not belong to the cpu backend');
  if (c.freed) throw new Error('tensor used after free');
  return c;
}

export class CpuBackend implements Backend {
  readonly name = 'cpu';
  /** See FLOAT_GEMM_MIN_ROWS (a field so that benchmarks can move it). */
  floatGemmMinRows = FLOAT_GEMM_MIN_ROWS;

  private constructor(private readonly arenas: Arenas, private readonly pool: Pool, readonly simd: string,
    private readonly minParallel: number) {}

  /**
   * How matmul multiplies `rows` activation rows by `weight`: integer dot products against
   * Q8_0-quantized activations, or float32 tiles (see FLOAT_GEMM_MIN_ROWS). Q4_0, Q4_K and Q5_K
   * with relaxed SIMD, and Q8_0, stay integer at every batch size: their row-quad kernels share
   * each weight vector between four activation rows and run ~2× (Q4_0, Q4_K) and ~1.3× (Q8_0)
   * the float tiles' rate on prompts (bench/README.md).
   */
  matmulPath(weight: Weight, rows: number): 'integer' | 'float' {
    const w = weight as CpuWeight;
    if (!w.quantized) return 'float';
    if (NIBBLE_QUADS.has(w.layout) && this.simd === 'relaxed') return 'integer';
    if (w.layout === LAYOUT_Q8_0R4) return 'integer';
    return rows >= this.floatGemmMinRows ? 'float' : 'integer';
  }

  static async create(k: KernelModule, threads: number, minParallel = DEFAULT_MIN_PARALLEL, arenaBytes?: number): Promise<CpuBackend> {
    const arenas = new Arenas(k.module, arenaBytes);
    const pool = await Pool.create(k.module, threads, arenas.list);
    return new CpuBackend(arenas, pool, k.simd, minParallel);
  }

  get threads(): number {
    return this.pool.threads;
  }

  private run(arena: Arena, op: OpName, work: number): void {
    this.pool.sync(this.arenas.list);
    this.pool.run(arena, op, work >= this.minParallel);
  }

  supportsWeightType(type: GgmlType): boolean {
    return SUPPORTED.has(type);
  }

  createWeight(name: string, data: WeightData): Weight {
    return createWeight(this.arenas, (a, op, parallel) => this.run(a, op, parallel ? Infinity : 0), name, data);
  }

  createTensor(rows: number, cols: number): Tensor {
    if (!(Number.isInteger(rows) && Number.isInteger(cols) && rows > 0 && cols > 0)) {
      throw new GemmaError(`cannot create a tensor of shape [${rows}, ${cols}]`);
    }
    const { arena, ptr } = this.arenas.place(rows * cols * 4);
    arena.u8.fill(0, ptr, ptr + rows * cols * 4);
    return new CpuTensor(rows, cols, arena, ptr);
  }

  write(x: Tensor, data: Float32Array, rowOffset = 0): void {
    const t = tensor(x);
    if (data.length + rowOffset * t.cols > t.rows * t.cols) throw new Error(`write of ${data.length} floats at row ${rowOffset} overflows [${t.rows}, ${t.cols}]`);
    t.arena.f32.set(data, t.ptr / 4 + rowOffset * t.cols);
  }

  async read(x: Tensor, rowStart = 0, rowCount = x.rows - rowStart): Promise<Float32Array> {
    const t = tensor(x);
    const b = t.ptr / 4;
    return t.arena.f32.slice(b + rowStart * t.cols, b + (rowStart + rowCount) * t.cols);
  }

  copyRows(dst: Tensor, dstRow: number, src: Tensor, srcRow: number, rowCount: number): void {
    const d = tensor(dst), s = tensor(src);
    if (d.cols !== s.cols) throw new Error(`copyRows: ${s.cols} cols into ${d.cols}`);
    const sb = s.ptr / 4 + srcRow * s.cols;
    d.arena.f32.set(s.arena.f32.subarray(sb, sb + rowCount * s.cols), d.ptr / 4 + dstRow * d.cols);
  }

  freeTensor(x: Tensor): void {
    const t = tensor(x);
    t.freed = true;
    t.arena.free(t.ptr);
  }

  /** Runs `fn` with every operand's address in `home`, staging the ones that live elsewhere. */
  private staged(home: Arena, operands: Operand[], fn: (ptrs: number[]) => void): void {
    const temps: { o: Operand; ptr: number }[] = [];
    const ptrs = operands.map((o) => {
      const off = (o.rowOffset ?? 0) * o.t.cols * 4;
      if (o.t.arena === home) return o.t.ptr + off;
      const bytes = o.rows * o.t.cols * 4;
      const ptr = home.alloc(bytes);
      if (o.read) home.u8.set(o.t.arena.u8.subarray(o.t.ptr + off, o.t.ptr + off + bytes), ptr);
      temps.push({ o, ptr });
      return ptr;
    });
    try {
      fn(ptrs);
      for (const { o, ptr } of temps) {
        const off = (o.rowOffset ?? 0) * o.t.cols * 4;
        if (o.write) o.t.arena.u8.set(home.u8.subarray(ptr, ptr + o.rows * o.t.cols * 4), o.t.ptr + off);
      }
    } finally {
      for (const { ptr } of temps) home.free(ptr);
    }
  }

  /**
   * Moves `b` into `a`'s arena (or `a` into `b`'s) when they differ and there is room, so that
   * an op reading both every time (attention: a layer's K and V caches, which a model over 4 GiB
   * may get in different memories) does not copy one of them in on every call.
   */
  private colocate(a: CpuTensor, b: CpuTensor): void {
    if (a.arena === b.arena) return;
    for (const [stay, move] of [[a, b], [b, a]]) {
      const bytes = move.rows * move.cols * 4;
      if (stay.arena.largestFree - bytes < this.arenas.reserve) continue;
      const ptr = stay.arena.alloc(bytes);
      stay.arena.u8.set(move.arena.u8.subarray(move.ptr, move.ptr + bytes), ptr);
      move.arena.free(move.ptr);
      move.arena = stay.arena;
      move.ptr = ptr;
      return;
    }
  }

  /** The arena of the operand with the most bytes. */
  private home(...ts: { t: CpuTensor; rows: number }[]): Arena {
    let best = ts[0];
    for (const o of ts) if (o.rows * o.t.cols > best.rows * best.t.cols) best = o;
    return best.t.arena;
  }

  embed(out: Tensor, table: Weight, ids: Int32Array, scale: number): void {
    const o = tensor(out), w = table as CpuWeight;
    const [vocab, cols] = w.shape;
    if (o.cols !== cols || ids.length > o.rows) throw new Error(`embed ${w.name}: out is [${o.rows}, ${o.cols}], table has ${cols} cols, ${ids.length} ids`);
    for (const id of ids) {
      if (!(Number.isInteger(id) && id >= 0 && id < vocab)) throw new GemmaError(`token id ${id} is outside the vocabulary (0..${vocab - 1})`);
    }
    for (const s of w.shards) {
      const pairs: number[] = [];
      for (let i = 0; i < ids.length; i++) if (ids[i] >= s.row0 && ids[i] < s.row0 + s.rows) pairs.push(i, ids[i] - s.row0);
      if (!pairs.length) continue;
      const home = s.arena;
      const n = pairs.length / 2;
      this.staged(home, [{ t: o, rows: ids.length, read: true, write: true }], ([outPtr]) => {
        const p = home.scratch('ids', pairs.length * 4);
        home.i32.set(pairs, p / 4);
        home.args([w.layout, outPtr, cols, s.ptr, p, n, cols], [scale, w.f16Scale]);
        this.run(home, 'embed', n * cols);
      });
    }
  }

  rmsNorm(out: Tensor, x: Tensor, w: Tensor, eps: number, rows: number): void {
    const o = tensor(out), xt = tensor(x), wt = tensor(w);
    if (xt.cols !== o.cols || wt.cols !== xt.cols || rows > xt.rows || rows > o.rows) throw new Error('rmsNorm: shape mismatch');
    const home = this.home({ t: xt, rows }, { t: o, rows });
    this.staged(home, [{ t: xt, rows, read: true, write: false }, { t: wt, rows: 1, read: true, write: false },
      { t: o, rows, read: false, write: true }], ([xp, wp, op]) => {
      home.args([xp, wp, op, rows, xt.cols], [eps]);
      this.run(home, 'rmsNorm', rows * xt.cols * 4);
    });
  }

  matmul(out: Tensor, x: Tensor, weight: Weight, rows: number): void {
    const o = tensor(out), xt = tensor(x), w = weight as CpuWeight;
    const [outF, inF] = w.shape;
    if (xt.cols !== inF || o.cols !== outF || rows > xt.rows || rows > o.rows) {
      throw new Error(`matmul ${w.name}: x has ${xt.cols} cols, W is [${outF}, ${inF}], out has ${o.cols} cols`);
    }
    const float = this.matmulPath(w, rows) === 'float';
    for (const s of w.shards) {
      const home = s.arena;
      // Staged operands take room in the shard's memory: a large batch goes through in passes.
      let pass = rows;
      if (xt.arena !== home || o.arena !== home) {
        const perRow = (xt.arena !== home ? inF * 4 : 0) + (o.arena !== home ? s.rows * 4 : 0) + inF * 2;
        const room = home.largestFree - PANEL * inF * 4 * this.threads - 65536;
        pass = Math.max(1, Math.min(rows, Math.floor(room / perRow)));
      }
      for (let r0 = 0; r0 < rows; r0 += pass) this.matmulShard(o, xt, w, s, r0, Math.min(pass, rows - r0), float);
    }
  }

  /**
   * Several matmuls on the same x as one kernel run when they can be (integer path, every weight
   * one shard in x's memory with its output, at most MAX_FUSED): x is quantized once and the
   * threads go from one weight to the next without a barrier. Otherwise one matmul each.
   */
  matmuls(x: Tensor, rows: number, items: readonly { out: Tensor; w: Weight }[]): void {
    const xt = tensor(x);
    const home = xt.arena;
    const fusable = items.length > 1 && items.length <= MAX_FUSED && items.every(({ out, w }) => {
      const cw = w as CpuWeight, o = tensor(out);
      return cw.shards.length === 1 && cw.shards[0].arena === home && o.arena === home && o.cols === cw.shape[0]
        && cw.shape[1] === xt.cols && rows <= o.rows && rows <= xt.rows && this.matmulPath(cw, rows) === 'integer';
    });
    if (!fusable) {
      for (const { out, w } of items) this.matmul(out, x, w, rows);
      return;
    }
    this.matmulQuant(home, xt.ptr, xt.cols, rows, items.map(({ out, w }) => {
      const cw = w as CpuWeight, o = tensor(out);
      return { w: cw, shard: cw.shards[0], out: o.ptr, ostride: o.cols };
    }));
  }

  /**
   * The integer kernel (assembly/matmul.ts matmulQuant) on `n` rows of x at `xp` (`inF` floats
   * each) against one or more weight shards of `home`, each into its output rows.
   */
  private matmulQuant(home: Arena, xp: number, inF: number, n: number,
    ws: readonly { w: CpuWeight; shard: Shard; out: number; ostride: number }[]): void {
    const nb = inF / 32;
    const xq = home.scratch('xq', n * inF), xd = home.scratch('xd', n * nb * 4);
    const xs8 = home.scratch('xs8', n * nb * 4), xs16 = home.scratch('xs16', n * nb * 8);
    // The int16 copy of the quants that Q8_0's kernels read (assembly/quad.ts).
    const xw = ws.some(({ w }) => w.layout === LAYOUT_Q8_0R4) ? home.scratch('xw', n * inF * 2) : 0;
    // The interleaved copy that the Q4_0 / Q4_K / Q5_K four-row kernels read (assembly/quad.ts gemmQuad4).
    const xi = n >= 4 && ws.some(({ w }) => NIBBLE_QUADS.has(w.layout)) ? home.scratch('xi', n * inF) : 0;
    // The K-quants' unpacked scales, per thread (assembly/kquad.ts).
    if (ws.some(({ w }) => w.layout === LAYOUT_Q4_KR4 || w.layout === LAYOUT_Q5_KR4)) home.threadScratch(this.threads, 1024);
    const one = ({ w, shard, out, ostride }: typeof ws[number]) =>
      [w.layout, shard.ptr, shard.rows, out, ostride, rowChunk(shard.rows, this.threads), w.subnormalScales ? 1 : 0];
    const [layout, ptr, rows, out, ostride, chunk, exact] = one(ws[0]);
    home.args([layout, xp, inF, n, inF, ptr, rows, out, ostride, chunk, xq, xd, xs8, xs16, xw, xi, exact, ws.length, ...ws.slice(1).flatMap(one)]);
    this.run(home, 'matmulQuant', n * inF * ws.reduce((t, w) => t + w.shard.rows, 0) / 16);
  }

  /** Rows [r0, r0 + n) of x times one shard of w. */
  private matmulShard(o: CpuTensor, xt: CpuTensor, w: CpuWeight, s: Shard, r0: number, n: number, float: boolean): void {
    const [outF, inF] = w.shape;
    const home = s.arena, threads = this.threads;
    const chunk = rowChunk(s.rows, threads);
    const direct = o.arena === home;
    const tmp = direct ? -1 : home.alloc(n * s.rows * 4);
    try {
      this.staged(home, [{ t: xt, rows: n, rowOffset: r0, read: true, write: false }], ([xp]) => {
        const op = direct ? o.ptr + (r0 * outF + s.row0) * 4 : tmp;
        const ostride = direct ? outF : s.rows;
        if (!float) {
          this.matmulQuant(home, xp, inF, n, [{ w, shard: s, out: op, ostride }]);
        } else {
          home.threadScratch(threads, PANEL * inF * 4);
          home.args([w.layout, xp, inF, n, inF, s.ptr, s.rows, op, ostride, chunk], [w.f16Scale]);
          this.run(home, 'matmulFloat', n * s.rows * inF / 16);
        }
      });
      if (!direct) {
        const src = home.f32, dst = o.arena.f32;
        for (let r = 0; r < n; r++) {
          const b = tmp / 4 + r * s.rows;
          dst.set(src.subarray(b, b + s.rows), o.ptr / 4 + (r0 + r) * outF + s.row0);
        }
      }
    } finally {
      if (!direct) home.free(tmp);
    }
  }

  rope(x: Tensor, rows: number, heads: number, headDim: number, positions: Int32Array, theta: number): void {
    const t = tensor(x);
    if (rows > t.rows || heads * headDim > t.cols || headDim % 2 !== 0 || positions.length < rows) throw new Error('rope: shape mismatch');
    for (let i = 0; i < rows; i++) {
      const p = positions[i];
      if (!(Number.isInteger(p) && p >= 0)) throw new GemmaError(`rope: invalid position ${p}`);
    }
    const home = t.arena;
    const { table, rows: tableRows } = ropeTable(home, theta, headDim, positions.subarray(0, rows));
    const pos = home.scratch('positions', rows * 4);
    home.i32.set(tableRows, pos / 4);
    home.args([t.ptr, rows, t.cols, heads, headDim, table, pos]);
    this.run(home, 'rope', rows * heads * headDim * 4);
  }

  geluMul(out: Tensor, gate: Tensor, up: Tensor, rows: number): void {
    this.elementwise('geluMul', out, gate, up, rows, 4);
  }

  add(out: Tensor, a: Tensor, b: Tensor, rows: number): void {
    this.elementwise('add', out, a, b, rows, 1);
  }

  private elementwise(op: 'geluMul' | 'add', out: Tensor, a: Tensor, b: Tensor, rows: number, cost: number): void {
    const o = tensor(out), at = tensor(a), bt = tensor(b);
    if (at.cols !== o.cols || bt.cols !== o.cols || rows > o.rows || rows > at.rows || rows > bt.rows) throw new Error(`${op}: shape mismatch`);
    const home = this.home({ t: o, rows }, { t: at, rows }, { t: bt, rows });
    this.staged(home, [{ t: at, rows, read: true, write: false }, { t: bt, rows, read: true, write: false },
      { t: o, rows, read: false, write: true }], ([ap, bp, op2]) => {
      home.args([ap, bp, op2, rows * o.cols]);
      this.run(home, op, rows * o.cols * cost);
    });
  }

  attention(out: Tensor, q: Tensor, kCache: Tensor, vCache: Tensor, p: AttentionParams): void {
    const o = tensor(out), qt = tensor(q), k = tensor(kCache), v = tensor(vCache);
    const { n, startPos, numHeads, numKvHeads, headDim, scale } = p;
    const row0 = p.rowOffset ?? 0;
    const len = startPos + n;
    if (numHeads % numKvHeads !== 0 || headDim % 4 !== 0 || qt.cols < numHeads * headDim || o.cols < numHeads * headDim
      || k.cols < numKvHeads * headDim || v.cols !== k.cols || len > k.rows || len > v.rows || row0 + n > qt.rows || row0 + n > o.rows) {
      throw new Error('attention: shape mismatch (head dimensions must be multiples of 4)');
    }
    this.colocate(k, v);
    const home = this.home({ t: k, rows: len }, { t: qt, rows: n });
    this.staged(home, [{ t: qt, rows: n, rowOffset: row0, read: true, write: false }, { t: k, rows: len, read: true, write: false },
      { t: v, rows: len, read: true, write: false }, { t: o, rows: n, rowOffset: row0, read: false, write: true }], ([qp, kp, vp, op]) => {
      home.threadScratch(this.threads, HEADS_PER_ITEM * len * 4);
      home.args([qp, kp, vp, op, n, startPos, numHeads, numKvHeads, headDim, qt.cols, k.cols, o.cols], [scale]);
      this.run(home, 'attention', n * numHeads * len * headDim / 2);
    });
  }

  /** Stops the workers and drops the memories (they are freed once nothing references them). */
  async dispose(): Promise<void> {
    await this.pool.dispose();
    this.arenas.clear();
  }
}
