// Integer dot products of repacked Q8_0 weight rows with Q8_0-quantized activations, and the
// constants and float16 scale conversions every integer kernel shares (Q4_0: q4.ts).
// Per group of 4 blocks, each block gives an i32x4 of partial sums; the four are reduced into
// one i32x4 of block sums, converted once and accumulated in float32 with the four combined
// scales d_w·d_x (ggml_vec_dot_q8_0_q8_0 scales per block the same way). One float
// accumulation per group keeps the dependency chain short.

import { CONSTS } from './sync';
import { fma, hsum, hsum4, F16_RESCALE } from './simd';
import { keep, touch } from './ahead';

/** Constants of the kernels (see init in index.ts). */
export const C_NIBBLE: usize = CONSTS; // i8x16 0x0f
export const C_F16MASK: usize = CONSTS + 16; // i32x4 0x8fffe000
export const C_F16SCALE: usize = CONSTS + 32; // f32x4 2^112
const C_MAG: usize = CONSTS + 48; // i32x4 0x7fff
const C_BIAS: usize = CONSTS + 64; // i32x4 (127 − 15) << 23
const C_MANT: usize = CONSTS + 80; // i32x4 0x3ff
const C_SUB: usize = CONSTS + 96; // f32x4 2^−24
const C_MINNORM: usize = CONSTS + 112; // i32x4 0x400
const C_SIGN: usize = CONSTS + 128; // i32x4 0x80000000

export function initConsts(): void {
  v128.store(C_NIBBLE, i8x16.splat(15));
  v128.store(C_F16MASK, i32x4.splat(0x8fffe000));
  v128.store(C_F16SCALE, f32x4.splat(F16_RESCALE));
  v128.store(C_MAG, i32x4.splat(0x7fff));
  v128.store(C_BIAS, i32x4.splat(112 << 23));
  v128.store(C_MANT, i32x4.splat(0x3ff));
  v128.store(C_SUB, f32x4.splat(5.960464477539063e-8));
  v128.store(C_MINNORM, i32x4.splat(0x400));
  v128.store(C_SIGN, i32x4.splat(0x80000000));
}

/**
 * Float16 → float32 for the low four i16 lanes of `v`, exactly and without float32 subnormal
 * arithmetic: normal values by rebiasing the exponent in integer arithmetic, subnormals (block
 * scales of small weights often are: x86 would take a ~150-cycle assist per multiply on a
 * float32 subnormal) as mantissa · 2^−24 from an integer conversion.
 */
// @ts-ignore: decorator
@inline export function halfToFloat4(v: v128): v128 {
  const e = i32x4.extend_low_i16x8_s(v);
  const mag = v128.and(e, v128.load(C_MAG));
  const normal = i32x4.add(i32x4.shl(mag, 13), v128.load(C_BIAS));
  const sub = f32x4.mul(f32x4.convert_i32x4_s(v128.and(e, v128.load(C_MANT))), v128.load(C_SUB));
  const r = v128.bitselect(sub, normal, i32x4.lt_s(mag, v128.load(C_MINNORM)));
  return v128.or(r, v128.and(e, v128.load(C_SIGN)));
}

/**
 * Four float16 scales at `p` as float32. With `exact` (the weight has subnormal scales, see
 * repack in quantize.ts) through halfToFloat4; otherwise the bits shift into float32 position
 * (exponent bias 15 → 127, a factor 2^−112 that the multiply by 2^112 undoes exactly): 4
 * instructions instead of ~13, and exact for every normal float16 and zero.
 */
// @ts-ignore: decorator
@inline export function scales4(p: usize, exact: bool, mask: v128, rescale: v128): v128 {
  const v = v128.load64_zero(p);
  if (exact) return halfToFloat4(v);
  return f32x4.mul(v128.and(i32x4.shl(i32x4.extend_low_i16x8_s(v), 13), mask), rescale);
}

/** The float16 at `p` as float32 in all four lanes. */
// @ts-ignore: decorator
@inline export function scale1(p: usize): v128 {
  return halfToFloat4(v128.load16_splat(p));
}

/** [Σa, Σb, Σc, Σd] of four i32x4. */
// @ts-ignore: decorator
@inline function reduce4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i32x4.add(i32x4.shuffle(a, b, 0, 4, 1, 5), i32x4.shuffle(a, b, 2, 6, 3, 7));
  const cd = i32x4.add(i32x4.shuffle(c, d, 0, 4, 1, 5), i32x4.shuffle(c, d, 2, 6, 3, 7));
  return i32x4.add(i32x4.shuffle(ab, cd, 0, 1, 4, 5), i32x4.shuffle(ab, cd, 2, 3, 6, 7));
}

/**
 * Σ w·x over 16 signed bytes, as four i32 partial sums. (Not i32x4.relaxed_dot_i8x16_i7x16_add_s:
 * Node 20's baseline compiler miscompiles it, and V8 11.3 emits the same three x64 instructions
 * for it as for the i16x8 form plus the pairwise add used here.)
 */
// @ts-ignore: decorator
@inline function dotI8(w: v128, x: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    // |w| is a valid 7-bit operand; the sign moves onto x. Pair sums stay below 2·127·128.
    const neg = i8x16.lt_s(w, i8x16.splat(0));
    const xs = i8x16.sub(v128.xor(x, neg), neg);
    return i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(xs, i8x16.abs(w)));
  }
  return i32x4.add(
    i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w), i16x8.extend_low_i8x16_s(x)),
    i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w), i16x8.extend_high_i8x16_s(x)));
}

/**
 * dotI8 with the weight's sign mask and magnitude computed once (i8x16.lt_s(w, 0), i8x16.abs(w))
 * for several activation vectors; the baseline build has nothing to share.
 */
// @ts-ignore: decorator
@inline function dotI8Shared(w: v128, neg: v128, mag: v128, x: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(i8x16.sub(v128.xor(x, neg), neg), mag));
  }
  return dotI8(w, x);
}

/** One Q8_0 block (32 quants at w) against one activation block (32 quants at x). */
// @ts-ignore: decorator
@inline function blockQ8(w: usize, x: usize): v128 {
  return i32x4.add(dotI8(v128.load(w), v128.load(x)), dotI8(v128.load(w, 16), v128.load(x, 16)));
}

/** Row of a repacked Q8_0 weight (see quantize.ts) · quantized activation row; `exact` as for scales4. */
export function dotQ8(w: usize, xq: usize, xd: usize, K: i32, exact: bool): f32 {
  const nb = K >> 5, G = nb >> 2;
  const mask = v128.load(C_F16MASK), rescale = v128.load(C_F16SCALE);
  let acc = f32x4.splat(0);
  let tk: i32 = 0;
  for (let g = 0; g < G; g++) {
    tk += touch(w) + touch(w + 64) + touch(w + 128);
    const s = reduce4(blockQ8(w + 8, xq), blockQ8(w + 40, xq + 32), blockQ8(w + 72, xq + 64), blockQ8(w + 104, xq + 96));
    acc = fma(f32x4.convert_i32x4_s(s), f32x4.mul(scales4(w, exact, mask, rescale), v128.load(xd)), acc);
    w += 136; xq += 128; xd += 16;
  }
  for (let b = G << 2; b < nb; b++) {
    const c = f32x4.mul(scale1(w), v128.load32_splat(xd));
    acc = fma(f32x4.convert_i32x4_s(blockQ8(w + 2, xq)), c, acc);
    w += 34; xq += 32; xd += 4;
  }
  keep(tk);
  return hsum(acc);
}

/**
 * dotQ8 of one row against four activation rows (xq + t·xStride, scales at xd + t·dStride):
 * the row's vectors, sign masks and magnitudes are loaded and computed once for the four, which
 * small batches (a server decoding several sequences) otherwise repeat per activation row.
 * Per block the four lanes of partial sums are scaled and accumulated as they are (no reduction
 * per group), so sums differ from dotQ8's in rounding only. Lane t of the result: activation row t.
 */
export function dotQ8T4(w: usize, xq: usize, xStride: usize, xd: usize, dStride: usize, K: i32, exact: bool): v128 {
  const nb = K >> 5, G = nb >> 2;
  const mask = v128.load(C_F16MASK), rescale = v128.load(C_F16SCALE);
  const zero = i8x16.splat(0);
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  const x1 = xStride, x2 = 2 * xStride, x3 = 3 * xStride, d1 = dStride, d2 = 2 * dStride, d3 = 3 * dStride;
  for (let b = 0; b < nb; b++) {
    // Groups of 4 blocks [4 × f16 d][4 × 32 quants], then single GGUF blocks [d][32 quants].
    const g = b >> 2, inGroup = g < G;
    const base = inGroup ? w + <usize>g * 136 : w + <usize>G * 136 + <usize>(b - (G << 2)) * 34;
    const q = inGroup ? base + 8 + (<usize>(b & 3) << 5) : base + 2;
    const dw = inGroup ? laneOf(scales4(base, exact, mask, rescale), b & 3) : scale1(base);
    const wa = v128.load(q), wb = v128.load(q, 16);
    const na = i8x16.lt_s(wa, zero), ma = i8x16.abs(wa), nb2 = i8x16.lt_s(wb, zero), mb = i8x16.abs(wb);
    const xo = xq + (<usize>b << 5), dx = xd + (<usize>b << 2);
    c0 = fma(f32x4.convert_i32x4_s(i32x4.add(dotI8Shared(wa, na, ma, v128.load(xo)), dotI8Shared(wb, nb2, mb, v128.load(xo, 16)))),
      f32x4.mul(dw, v128.load32_splat(dx)), c0);
    c1 = fma(f32x4.convert_i32x4_s(i32x4.add(dotI8Shared(wa, na, ma, v128.load(xo + x1)), dotI8Shared(wb, nb2, mb, v128.load(xo + x1, 16)))),
      f32x4.mul(dw, v128.load32_splat(dx + d1)), c1);
    c2 = fma(f32x4.convert_i32x4_s(i32x4.add(dotI8Shared(wa, na, ma, v128.load(xo + x2)), dotI8Shared(wb, nb2, mb, v128.load(xo + x2, 16)))),
      f32x4.mul(dw, v128.load32_splat(dx + d2)), c2);
    c3 = fma(f32x4.convert_i32x4_s(i32x4.add(dotI8Shared(wa, na, ma, v128.load(xo + x3)), dotI8Shared(wb, nb2, mb, v128.load(xo + x3, 16)))),
      f32x4.mul(dw, v128.load32_splat(dx + d3)), c3);
  }
  return hsum4(c0, c1, c2, c3);
}

/** Lane `i` (0..3) of v in all four lanes. */
// @ts-ignore: decorator
@inline function laneOf(v: v128, i: i32): v128 {
  return i == 0 ? f32x4.shuffle(v, v, 0, 0, 0, 0) : i == 1 ? f32x4.shuffle(v, v, 1, 1, 1, 1)
    : i == 2 ? f32x4.shuffle(v, v, 2, 2, 2, 2) : f32x4.shuffle(v, v, 3, 3, 3, 3);
}

/**
 * dotQ8 of four rows at w, w + stride, w + 2·stride, w + 3·stride at once (lane i of the result:
 * row i). Four independent streams keep more cache misses in flight than one: with 4 KiB pages
 * the hardware prefetcher restarts at every page, and one stream with a dot product's worth of
 * instructions per line leaves the memory system idle part of the time (measured on the 2B
 * shapes, 2 threads: ~+30% bandwidth over one row at a time, bench/cpu.ts).
 */
export function dotQ8x4(w: usize, stride: usize, xq: usize, xd: usize, K: i32, exact: bool): v128 {
  const nb = K >> 5, G = nb >> 2;
  const mask = v128.load(C_F16MASK), rescale = v128.load(C_F16SCALE);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let tk: i32 = 0;
  const w1 = w + stride, w2 = w1 + stride, w3 = w2 + stride;
  let o: usize = 0;
  for (let g = 0; g < G; g++) {
    tk += touch(w + o) + touch(w + o + 64) + touch(w + o + 128) + touch(w1 + o) + touch(w1 + o + 64) + touch(w1 + o + 128)
      + touch(w2 + o) + touch(w2 + o + 64) + touch(w2 + o + 128) + touch(w3 + o) + touch(w3 + o + 64) + touch(w3 + o + 128);
    const dx = v128.load(xd);
    a0 = fma(f32x4.convert_i32x4_s(reduce4(blockQ8(w + o + 8, xq), blockQ8(w + o + 40, xq + 32), blockQ8(w + o + 72, xq + 64), blockQ8(w + o + 104, xq + 96))),
      f32x4.mul(scales4(w + o, exact, mask, rescale), dx), a0);
    a1 = fma(f32x4.convert_i32x4_s(reduce4(blockQ8(w1 + o + 8, xq), blockQ8(w1 + o + 40, xq + 32), blockQ8(w1 + o + 72, xq + 64), blockQ8(w1 + o + 104, xq + 96))),
      f32x4.mul(scales4(w1 + o, exact, mask, rescale), dx), a1);
    a2 = fma(f32x4.convert_i32x4_s(reduce4(blockQ8(w2 + o + 8, xq), blockQ8(w2 + o + 40, xq + 32), blockQ8(w2 + o + 72, xq + 64), blockQ8(w2 + o + 104, xq + 96))),
      f32x4.mul(scales4(w2 + o, exact, mask, rescale), dx), a2);
    a3 = fma(f32x4.convert_i32x4_s(reduce4(blockQ8(w3 + o + 8, xq), blockQ8(w3 + o + 40, xq + 32), blockQ8(w3 + o + 72, xq + 64), blockQ8(w3 + o + 104, xq + 96))),
      f32x4.mul(scales4(w3 + o, exact, mask, rescale), dx), a3);
    o += 136; xq += 128; xd += 16;
  }
  for (let b = G << 2; b < nb; b++) {
    const dx = v128.load32_splat(xd);
    a0 = fma(f32x4.convert_i32x4_s(blockQ8(w + o + 2, xq)), f32x4.mul(scale1(w + o), dx), a0);
    a1 = fma(f32x4.convert_i32x4_s(blockQ8(w1 + o + 2, xq)), f32x4.mul(scale1(w1 + o), dx), a1);
    a2 = fma(f32x4.convert_i32x4_s(blockQ8(w2 + o + 2, xq)), f32x4.mul(scale1(w2 + o), dx), a2);
    a3 = fma(f32x4.convert_i32x4_s(blockQ8(w3 + o + 2, xq)), f32x4.mul(scale1(w3 + o), dx), a3);
    o += 34; xq += 32; xd += 4;
  }
  keep(tk);
  return hsum4(a0, a1, a2, a3);
}
