// Integer dot products of Q4_1, Q5_0 and Q5_1 weight rows (GGUF layout, 32 elements per block)
// with Q8_0-quantized activations. With q the unsigned 4- or 5-bit code, the weight is
// d·q + m (Q4_1, Q5_1) or d·(q − 16) (Q5_0) (ggml dequantize_row_q4_1 / _q5_0 / _q5_1), so a
// block contributes d·d_x·Σq·x + m·d_x·Σx, or d·d_x·(Σq·x − 16·Σx).

import { f16, fma, hsum } from './simd';
import { C_NIBBLE } from './dot';
import { keep, touch } from './ahead';

/** Σ u·s over 2 × 16 bytes, u in 0..31 (a valid 7-bit operand), s signed: four i32 partial sums. */
// @ts-ignore: decorator
@inline function dotUS2(u0: v128, s0: v128, u1: v128, s1: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(s0, u0), i16x8.relaxed_dot_i8x16_i7x16_s(s1, u1)));
  }
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(u0), i16x8.extend_low_i8x16_s(s0)),
      i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(u0), i16x8.extend_high_i8x16_s(s0))),
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(u1), i16x8.extend_low_i8x16_s(s1)),
      i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(u1), i16x8.extend_high_i8x16_s(s1))));
}

/** Bit j of the 32-bit `qh` (j = lane + 16·half) as 0x10 in byte lane j of the result. */
// @ts-ignore: decorator
@inline function highBits(qh: u32, half: i32): v128 {
  const v = i32x4.splat(qh);
  const bytes = half == 0
    ? i8x16.swizzle(v, i8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1))
    : i8x16.swizzle(v, i8x16(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const bit = i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
  return v128.and(i8x16.eq(v128.and(bytes, bit), bit), i8x16.splat(0x10));
}

/**
 * Row · quantized activation row for type 3 (Q4_1), 6 (Q5_0) or 7 (Q5_1). xd / xs8: per block
 * the activation scale and 8·Σq.
 */
export function dotLegacy(type: i32, w: usize, xq: usize, xd: usize, xs8: usize, K: i32): f32 {
  const nb = K >> 5;
  const k15 = v128.load(C_NIBBLE);
  const bs: usize = type == 3 ? 20 : type == 6 ? 22 : 24;
  const qo: usize = type == 3 ? 4 : type == 6 ? 6 : 8;
  let acc = f32x4.splat(0);
  let off: f32 = 0;
  let tk: i32 = 0;
  for (let b = 0; b < nb; b++) {
    // One touch per block (20–24 bytes): every line is touched, most of them three times.
    tk += touch(w);
    const q = v128.load(w + qo);
    let lo = v128.and(q, k15), hi = v128.and(i16x8.shr_u(q, 4), k15);
    if (type != 3) {
      const qh = load<u32>(w + (type == 6 ? 2 : 4));
      lo = v128.or(lo, highBits(qh, 0));
      hi = v128.or(hi, highBits(qh, 1));
    }
    const dx = load<f32>(xd);
    const sx = <f32>load<i32>(xs8) * <f32>0.125 * dx;
    const d = f16(load<u16>(w));
    acc = fma(f32x4.convert_i32x4_s(dotUS2(lo, v128.load(xq), hi, v128.load(xq, 16))), f32x4.splat(d * dx), acc);
    off += type == 6 ? <f32>-16 * d * sx : f16(load<u16>(w + 2)) * sx;
    w += bs; xq += 32; xd += 4; xs8 += 4;
  }
  keep(tk);
  return hsum(acc) + off;
}
