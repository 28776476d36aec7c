// Integer dot products of Q6_K weight rows (GGUF layout) with Q8_0-quantized activations (Q4_K
// and Q5_K are repacked into row quads: quad.ts, kquad.ts). The formula is ggml's
// dequantize_row_q6_K (ggml-quants.c) folded into the dot product: per 16-element sub-block,
// d·sc·(Σq·x − 32·Σx), with the activation block scale d_x of the 32 elements the sub-block lies
// in: a superblock step, a one-row dot product and a four-row one whose rows are four streams.

import { fma, hsum, hsum4 } from './simd';
import { scale1, C_NIBBLE } from './dot';
import { keep, touch } from './ahead';

// @ts-ignore: decorator
@inline function reduce4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i32x4.add(i32x4.shuffle(a, b, 0, 4, 1, 5), i32x4.shuffle(a, b, 2, 6, 3, 7));
  const cd = i32x4.add(i32x4.shuffle(c, d, 0, 4, 1, 5), i32x4.shuffle(c, d, 2, 6, 3, 7));
  return i32x4.add(i32x4.shuffle(ab, cd, 0, 1, 4, 5), i32x4.shuffle(ab, cd, 2, 3, 6, 7));
}

/** Σ u·s over 16 bytes, u in 0..63 (a valid 7-bit operand), s signed: four i32 partial sums. */
// @ts-ignore: decorator
@inline function dotUS(u: v128, s: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(s, u));
  return i32x4.add(
    i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(u), i16x8.extend_low_i8x16_s(s)),
    i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(u), i16x8.extend_high_i8x16_s(s)));
}

/**
 * One Q6_K superblock · quantized activations, added to acc. xd: per 32-element block the scale; xs16: Σq per 16.
 * Sub-block i (16 elements, int8 scale sc[i]) of each 128-element half n comes from
 * ql[64n + l (+32)] nibbles and qh[32n + l] 2-bit fields as in dequantize_row_q6_K.
 */
// @ts-ignore: decorator
@inline function stepQ6K(w: usize, xq: usize, xd: usize, xs16: usize, k15: v128, k30: v128, acc: v128): v128 {
  const d = scale1(w + 208);
  const scv = v128.load(w + 192);
  const sl = i16x8.extend_low_i8x16_s(scv), sh = i16x8.extend_high_i8x16_s(scv);
  for (let n = 0; n < 2; n++) {
    const ql = w + (<usize>n << 6), qh = w + 128 + (<usize>n << 5);
    const x = xq + (<usize>n << 7);
    // h = 0: elements l = 0..15 of each quarter; sub-blocks 8n + 2k.
    let A = v128.load(ql), B = v128.load(ql, 32), H = v128.load(qh);
    const a0 = dotUS(v128.or(v128.and(A, k15), v128.and(i16x8.shl(H, 4), k30)), v128.load(x));
    const a2 = dotUS(v128.or(v128.and(B, k15), v128.and(i16x8.shl(H, 2), k30)), v128.load(x, 32));
    const a4 = dotUS(v128.or(v128.and(i16x8.shr_u(A, 4), k15), v128.and(H, k30)), v128.load(x, 64));
    const a6 = dotUS(v128.or(v128.and(i16x8.shr_u(B, 4), k15), v128.and(i16x8.shr_u(H, 2), k30)), v128.load(x, 96));
    A = v128.load(ql, 16); B = v128.load(ql, 48); H = v128.load(qh, 16);
    const a1 = dotUS(v128.or(v128.and(A, k15), v128.and(i16x8.shl(H, 4), k30)), v128.load(x, 16));
    const a3 = dotUS(v128.or(v128.and(B, k15), v128.and(i16x8.shl(H, 2), k30)), v128.load(x, 48));
    const a5 = dotUS(v128.or(v128.and(i16x8.shr_u(A, 4), k15), v128.and(H, k30)), v128.load(x, 80));
    const a7 = dotUS(v128.or(v128.and(i16x8.shr_u(B, 4), k15), v128.and(i16x8.shr_u(H, 2), k30)), v128.load(x, 112));
    const xs = xs16 + (<usize>n << 5);
    const lo = i32x4.sub(reduce4(a0, a1, a2, a3), i32x4.shl(v128.load(xs), 5));
    const hi = i32x4.sub(reduce4(a4, a5, a6, a7), i32x4.shl(v128.load(xs, 16), 5));
    const dx = xd + (<usize>n << 4);
    const dxa = v128.load64_zero(dx), dxb = v128.load64_zero(dx, 8);
    const s16 = n == 0 ? sl : sh;
    const scl = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(s16)), sch = f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(s16));
    acc = fma(f32x4.convert_i32x4_s(lo), f32x4.mul(f32x4.mul(scl, d), f32x4.shuffle(dxa, dxa, 0, 0, 1, 1)), acc);
    acc = fma(f32x4.convert_i32x4_s(hi), f32x4.mul(f32x4.mul(sch, d), f32x4.shuffle(dxb, dxb, 0, 0, 1, 1)), acc);
  }
  return acc;
}

// The row drivers: one row, or four rows as four streams (see dotQuad4 in quad.ts).

/** Touches the lines of the superblock at p (210 bytes), AHEAD bytes on (ahead.ts). */
// @ts-ignore: decorator
@inline function touchK(p: usize): i32 {
  return touch(p) + touch(p + 64) + touch(p + 128) + touch(p + 192);
}

/** Row · quantized activation row; xs16: Σq per 16. */
export function dotQ6K(w: usize, xq: usize, xd: usize, xs16: usize, K: i32): f32 {
  const nsb = K >> 8;
  const k15 = v128.load(C_NIBBLE), k30 = i8x16.splat(0x30);
  let acc = f32x4.splat(0);
  let tk: i32 = 0;
  for (let sb = 0; sb < nsb; sb++) {
    tk += touchK(w);
    acc = stepQ6K(w, xq, xd, xs16, k15, k30, acc);
    w += 210; xq += 256; xd += 32; xs16 += 64;
  }
  keep(tk);
  return hsum(acc);
}

/** The same for the rows at w + i·stride, i = 0..3 (lane i). */
export function dotQ6Kx4(w: usize, stride: usize, xq: usize, xd: usize, xs16: usize, K: i32): v128 {
  const nsb = K >> 8;
  const k15 = v128.load(C_NIBBLE), k30 = i8x16.splat(0x30);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let tk: i32 = 0;
  const w1 = w + stride, w2 = w1 + stride, w3 = w2 + stride;
  for (let o: usize = 0, sb = 0; sb < nsb; sb++, o += 210) {
    tk += touchK(w + o) + touchK(w1 + o) + touchK(w2 + o) + touchK(w3 + o);
    a0 = stepQ6K(w + o, xq, xd, xs16, k15, k30, a0);
    a1 = stepQ6K(w1 + o, xq, xd, xs16, k15, k30, a1);
    a2 = stepQ6K(w2 + o, xq, xd, xs16, k15, k30, a2);
    a3 = stepQ6K(w3 + o, xq, xd, xs16, k15, k30, a3);
    xq += 256; xd += 32; xs16 += 64;
  }
  keep(tk);
  return hsum4(a0, a1, a2, a3);
}
