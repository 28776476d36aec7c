/**
 * Weights on the CPU backend: validation, kernel layout, placement into arenas and load-time
 * repacking. Q8_0, Q4_0, Q4_K and Q5_K are repacked into quads of four interleaved rows (groups
 * of four blocks; K-quants per superblock), same byte size (layouts in assembly/quantize.ts); F16 is rescaled by a power of
 * two (rescaleF16); every other type is kept in its GGUF row layout. Nothing is dequantized
 * ahead of time.
 */
import { GgmlType, GGML_TYPE_INFO, ggmlTypeName } from '../../formats/ggml-types.js';
import { GemmaError } from '../../errors.js';
import type { Weight, WeightData } from '../types.js';
import type { Arena } from './arena.js';
import type { Arenas, Shard } from './arenas.js';

/** Kernel layout ids (assembly/dequant.ts): ggml type ids, plus the two repacked layouts. */
export const LAYOUT_Q4_0R4 = 101;
export const LAYOUT_Q8_0R4 = 102;
export const LAYOUT_Q4_KR4 = 103;
export const LAYOUT_Q5_KR4 = 104;

/** Layouts multiplied with integer dot products against Q8_0-quantized activations. */
const QUANTIZED_LAYOUTS: ReadonlySet<number> = new Set([LAYOUT_Q8_0R4, LAYOUT_Q4_0R4, LAYOUT_Q4_KR4, LAYOUT_Q5_KR4, GgmlType.Q4_1, GgmlType.Q5_0,
  GgmlType.Q5_1, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K]);

export const SUPPORTED: ReadonlySet<GgmlType> = new Set([
  GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0,
  GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
]);

export class CpuWeight implements Weight {
  /**
   * For F16: the kernels' multiplier 2^(112−s) after the load-time rescaling by 2^s (see
   * f16Rescale in assembly/quantize.ts).
   */
  f16Scale = 2 ** 112;
  /**
   * For repacked Q8_0 / Q4_0: some block scale is a float16 subnormal, so the kernels convert
   * scales exactly instead of by a shift (assembly/dot.ts scales4).
   */
  subnormalScales = false;

  constructor(readonly name: string, readonly shape: readonly [number, number], readonly type: GgmlType,
    readonly layout: number, readonly shards: readonly Shard[]) {}

  /** The quantized (integer dot product) path; the others take float32 activations. */
  get quantized(): boolean {
    return QUANTIZED_LAYOUTS.has(this.layout);
  }
}

export function rowBytes(type: GgmlType, cols: number): number {
  const info = GGML_TYPE_INFO[type];
  return (cols / info.blockSize) * info.typeSize;
}

/** Control-area slot (i32 index) of kernel results (assembly/quantize.ts). */
const RESULT_SLOT = 240 / 4;

/** Largest number of rows repacked per dispatch (through a staging buffer). */
const STAGE_BYTES = 4 << 20;

export type RunOp = (arena: Arena, op: 'repack' | 'f16Max' | 'f16Scale', parallel: boolean) => void;

export function createWeight(arenas: Arenas, run: RunOp, name: string, data: WeightData): CpuWeight {
  const [rows, cols] = data.shape;
  const type = data.type;
  if (!SUPPORTED.has(type)) throw new GemmaError(`tensor ${name}: the cpu backend does not support weights of type ${ggmlTypeName(type)}`);
  const info = GGML_TYPE_INFO[type];
  if (!(rows > 0 && cols > 0 && cols % info.blockSize === 0)) {
    throw new GemmaError(`tensor ${name}: shape [${rows}, ${cols}] does not fit ${info.name} blocks of ${info.blockSize}`);
  }
  const rb = rowBytes(type, cols);
  if (data.bytes.byteLength !== rb * rows) {
    throw new GemmaError(`tensor ${name}: expected ${rb * rows} bytes for [${rows}, ${cols}], got ${data.bytes.byteLength}`);
  }
  const layout = type === GgmlType.Q8_0 ? LAYOUT_Q8_0R4 : type === GgmlType.Q4_0 ? LAYOUT_Q4_0R4
    : type === GgmlType.Q4_K ? LAYOUT_Q4_KR4 : type === GgmlType.Q5_K ? LAYOUT_Q5_KR4 : type;
  const perUnit = layout === type ? 1 : 4;
  const units = Math.ceil(rows / perUnit);
  const shards: Shard[] = [];
  let subnormal = false;
  for (const p of arenas.placeRows(rb * perUnit, units, 8)) {
    const row0 = p.unit0 * perUnit, n = Math.min(rows - row0, p.units * perUnit);
    const src = data.bytes.subarray(row0 * rb, (row0 + n) * rb);
    if (layout === type) p.arena.u8.set(src, p.ptr);
    else subnormal = repack(p.arena, run, layout, src, p.ptr, n, cols, rb) || subnormal;
    shards.push({ arena: p.arena, ptr: p.ptr, row0, rows: n });
  }
  const w = new CpuWeight(name, data.shape, type, layout, shards);
  w.subnormalScales = subnormal;
  if (type === GgmlType.F16) rescaleF16(w, run);
  return w;
}

/** Float16 subnormals become normal when multiplied by 2^10; larger values limit the shift. */
function rescaleF16(w: CpuWeight, run: RunOp): void {
  let maxBits = 0;
  for (const s of w.shards) {
    s.arena.args([s.ptr, s.rows * w.shape[1]]);
    s.arena.i32[RESULT_SLOT] = 0;
    run(s.arena, 'f16Max', true);
    maxBits = Math.max(maxBits, s.arena.i32[RESULT_SLOT]);
  }
  // The scan doubles as a check: a non-finite value would turn every activation it meets into NaN.
  if (maxBits >= 0x7c00) throw new GemmaError(`tensor ${w.name}: contains a float16 Inf or NaN (0x${maxBits.toString(16)}); the file is corrupt`);
  const e = maxBits >> 10;
  const shift = e >= 31 ? 0 : Math.min(10, 30 - Math.max(e, 1));
  if (shift === 0) return;
  for (const s of w.shards) {
    s.arena.args([s.ptr, s.rows * w.shape[1], shift]);
    run(s.arena, 'f16Scale', true);
  }
  w.f16Scale = 2 ** (112 - shift);
}

/** Repacks rows into the kernel layout; returns whether any block scale is a float16 subnormal. */
function repack(arena: Arena, run: RunOp, layout: number, src: Uint8Array, dst: number, rows: number, cols: number, rb: number): boolean {
  arena.i32[RESULT_SLOT] = 0;
  // Whole row quads per pass.
  const step = Math.max(4, Math.floor(Math.min(STAGE_BYTES, arena.limit / 32) / rb / 4) * 4);
  const stage = arena.scratch('stage', step * rb);
  for (let r = 0; r < rows; r += step) {
    const n = Math.min(step, rows - r);
    arena.u8.set(src.subarray(r * rb, (r + n) * rb), stage);
    arena.args([layout, stage, dst + r * rb, n, cols]);
    run(arena, 'repack', n >= 64);
  }
  return arena.i32[RESULT_SLOT] !== 0;
}
