// Integer dot products of repacked Q8_0 / Q4_0 weight rows with Q8_0-quantized activations.
// Each 32-element block gives an i32x4 of partial sums; it is converted once and accumulated
// in float32 with the block's combined scale d_w·d_x (ggml_vec_dot_q8_0_q8_0 /
// ggml_vec_dot_q4_0_q8_0 do the same per block). The four float16 weight scales of a group
// convert to float32 in one vector op (simd.ts).

import { f16lo, fma, hsum, lane, sink } from './simd';

// @ts-ignore: decorator
@inline function ones16(): v128 {
  return i16x8.splat(1);
}

/** Σ w·x over 16 signed bytes, as four i32 partial sums. */
// @ts-ignore: decorator
@inline function dotI8(w: v128, x: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    // |w| is a valid 7-bit operand; the sign moves onto x. The i16 pair sums stay below 2·127·128.
    const neg = i8x16.lt_s(w, i8x16.splat(0));
    const xs = i8x16.sub(v128.xor(x, neg), neg);
    return i32x4.dot_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(xs, i8x16.abs(w)), ones16());
  }
  return i32x4.add(
    i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w), i16x8.extend_low_i8x16_s(x)),
    i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w), i16x8.extend_high_i8x16_s(x)));
}

/** One Q8_0 block (32 quants at w) against one activation block (32 quants at x). */
// @ts-ignore: decorator
@inline function blockQ8(w: usize, x: usize): v128 {
  return i32x4.add(dotI8(v128.load(w), v128.load(x)), dotI8(v128.load(w, 16), v128.load(x, 16)));
}

/** Row of a repacked Q8_0 weight (see quantize.ts) · quantized activation row. */
export function dotQ8(w: usize, xq: usize, xd: usize, K: i32, line: usize): f32 {
  const nb = K >> 5, G = nb >> 2;
  let acc = f32x4.splat(0);
  for (let g = 0; g < G; g++) {
    const c = f32x4.mul(f16lo(v128.load64_zero(w)), v128.load(xd));
    const s0 = blockQ8(w + 8, xq), s1 = blockQ8(w + 40, xq + 32);
    const s2 = blockQ8(w + 72, xq + 64), s3 = blockQ8(w + 104, xq + 96);
    acc = fma(f32x4.convert_i32x4_s(s0), lane(c, 0), acc);
    acc = fma(f32x4.convert_i32x4_s(s1), lane(c, 1), acc);
    acc = fma(f32x4.convert_i32x4_s(s2), lane(c, 2), acc);
    acc = fma(f32x4.convert_i32x4_s(s3), lane(c, 3), acc);
    sink(line, acc);
    w += 136; xq += 128; xd += 16;
  }
  for (let b = G << 2; b < nb; b++) {
    const c = f32x4.mul(f16lo(v128.load16_splat(w)), v128.load32_splat(xd));
    acc = fma(f32x4.convert_i32x4_s(blockQ8(w + 2, xq)), c, acc);
    w += 34; xq += 32; xd += 4;
  }
  return hsum(acc);
}

/** Σ nibble·x of one Q4_0 block (16 bytes at `q`) against activation block halves x0, x1. */
// @ts-ignore: decorator
@inline function blockQ4(q: v128, x0: v128, x1: v128): v128 {
  const lo = v128.and(q, i8x16.splat(15));
  const hi = v128.and(i16x8.shr_u(q, 4), i8x16.splat(15));
  if (ASC_FEATURE_RELAXED_SIMD) {
    // Nibbles 0..15 are valid 7-bit operands: take Σ q·x here and add −8·Σx per block apart.
    const p = i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(x0, lo), i16x8.relaxed_dot_i8x16_i7x16_s(x1, hi));
    return i32x4.dot_i16x8_s(p, ones16());
  }
  const l = i8x16.sub(lo, i8x16.splat(8)), h = i8x16.sub(hi, i8x16.splat(8));
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(l), i16x8.extend_low_i8x16_s(x0)),
      i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(l), i16x8.extend_high_i8x16_s(x0))),
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(h), i16x8.extend_low_i8x16_s(x1)),
      i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(h), i16x8.extend_high_i8x16_s(x1))));
}

/**
 * A repacked Q4_0 row pair (see quantize.ts) · quantized activation row; the two results go to
 * out[0] and out[1] (out[1] only when `both`).
 */
export function dotQ4Pair(w: usize, xq: usize, xd: usize, xn: usize, K: i32, out: usize, ostep: usize, both: bool, line: usize): void {
  const nb = K >> 5, G = nb >> 2;
  let accA = f32x4.splat(0), accB = f32x4.splat(0);
  for (let g = 0; g < G; g++) {
    const dx = v128.load(xd);
    const dA = f16lo(v128.load64_zero(w)), dB = f16lo(v128.load64_zero(w, 8));
    if (ASC_FEATURE_RELAXED_SIMD) {
      const n = v128.load(xn);
      accA = fma(dA, n, accA);
      accB = fma(dB, n, accB);
    }
    const cA = f32x4.mul(dA, dx), cB = f32x4.mul(dB, dx);
    let x0 = v128.load(xq), x1 = v128.load(xq, 16);
    accA = fma(f32x4.convert_i32x4_s(blockQ4(v128.load(w, 16), x0, x1)), lane(cA, 0), accA);
    accB = fma(f32x4.convert_i32x4_s(blockQ4(v128.load(w, 80), x0, x1)), lane(cB, 0), accB);
    x0 = v128.load(xq, 32); x1 = v128.load(xq, 48);
    accA = fma(f32x4.convert_i32x4_s(blockQ4(v128.load(w, 32), x0, x1)), lane(cA, 1), accA);
    accB = fma(f32x4.convert_i32x4_s(blockQ4(v128.load(w, 96), x0, x1)), lane(cB, 1), accB);
    x0 = v128.load(xq, 64); x1 = v128.load(xq, 80);
    accA = fma(f32x4.convert_i32x4_s(blockQ4(v128.load(w, 48), x0, x1)), lane(cA, 2), accA);
    accB = fma(f32x4.convert_i32x4_s(blockQ4(v128.load(w, 112), x0, x1)), lane(cB, 2), accB);
    x0 = v128.load(xq, 96); x1 = v128.load(xq, 112);
    accA = fma(f32x4.convert_i32x4_s(blockQ4(v128.load(w, 64), x0, x1)), lane(cA, 3), accA);
    accB = fma(f32x4.convert_i32x4_s(blockQ4(v128.load(w, 128), x0, x1)), lane(cB, 3), accB);
    sink(line, f32x4.add(accA, accB));
    w += 144; xq += 128; xd += 16; xn += 16;
  }
  const t = nb - (G << 2);
  for (let j = 0; j < t; j++) {
    const dA = f16lo(v128.load16_splat(w + (<usize>j << 1))), dB = f16lo(v128.load16_splat(w + (<usize>(t + j) << 1)));
    const dx = v128.load32_splat(xd);
    if (ASC_FEATURE_RELAXED_SIMD) {
      const n = v128.load32_splat(xn);
      accA = fma(dA, f32x4.mul(n, f32x4.splat(0.25)), accA);
      accB = fma(dB, f32x4.mul(n, f32x4.splat(0.25)), accB);
    }
    const x0 = v128.load(xq), x1 = v128.load(xq, 16);
    const qa = w + (<usize>t << 2) + (<usize>j << 4);
    accA = fma(f32x4.convert_i32x4_s(blockQ4(v128.load(qa), x0, x1)), f32x4.mul(dA, dx), accA);
    accB = fma(f32x4.convert_i32x4_s(blockQ4(v128.load(qa + (<usize>t << 4)), x0, x1)), f32x4.mul(dB, dx), accB);
    xq += 32; xd += 4; xn += 4;
  }
  store<f32>(out, hsum(accA));
  if (both) store<f32>(out + ostep, hsum(accB));
}
