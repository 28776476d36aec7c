// Q4_K's and Q5_K's part of the row-quad kernels (quad.ts; layouts in quantize.ts): the
// scales' unpacking and a sub-block's finish (Q5_K: the same with 5-bit q). Formula: ggml's dequantize_row_q4_K folded into the dot product,
// per 32-element sub-block j (which is one activation block b): d·sc_j·Σq·x − dmin·m_j·Σx,
// times the activation scale d_x.
// The sub-block's Σq·x is Q4_0's inner loop (quad.ts: the same vector layout, unsigned nibbles
// against int8 activations, i16 pair sums); the lanes are the quad's four rows. Per superblock
// the four rows' 8 scales and 8 mins unpack with a few vector ops into float32 d·sc_j and
// dmin·m_j/8 (8·Σx is what quantizeRows stores), kept in the thread's scratch (256 bytes per
// quad) while the superblock's sub-blocks run.

import { fma, fnma } from './simd';
import { halfToFloat4, C_NIBBLE } from './dot';

/** 16 unsigned bytes (sub-blocks 4h..4h+3 × rows 0..3) times f (per row) as 4 f32x4 at t. */
// @ts-ignore: decorator
@inline function storeScaled(t: usize, v: v128, f: v128): void {
  const lo = i16x8.extend_low_i8x16_u(v), hi = i16x8.extend_high_i8x16_u(v);
  v128.store(t, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(lo)), f));
  v128.store(t, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(lo)), f), 16);
  v128.store(t, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(hi)), f), 32);
  v128.store(t, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(hi)), f), 48);
}

/**
 * The superblock at p's per-sub-block factors for its four rows: d·sc_j at t + 16j, dmin·m_j/8
 * at t + 128 + 16j (j = 0..7). Scales and mins are 6-bit: low 4 bits in nibbles, high 2 bits
 * in crumbs (layout in quantize.ts); d and dmin convert exactly (float16 subnormals included).
 */
// @ts-ignore: decorator
@inline export function unpackScales(p: usize, t: usize): void {
  const k15 = v128.load(C_NIBBLE), k3 = i8x16.splat(3);
  const a = v128.load(p, 16), b = v128.load(p, 32), hb = v128.load(p, 48);
  // i16 shifts: the masks keep each byte's own bits.
  const scA = v128.or(v128.and(a, k15), i16x8.shl(v128.and(hb, k3), 4));
  const scB = v128.or(v128.and(b, k15), i16x8.shl(v128.and(i16x8.shr_u(hb, 2), k3), 4));
  const mA = v128.or(v128.and(i16x8.shr_u(a, 4), k15), i16x8.shl(v128.and(i16x8.shr_u(hb, 4), k3), 4));
  const mB = v128.or(v128.and(i16x8.shr_u(b, 4), k15), i16x8.shl(v128.and(i16x8.shr_u(hb, 6), k3), 4));
  const d = halfToFloat4(v128.load64_zero(p)), dm = f32x4.mul(halfToFloat4(v128.load64_zero(p, 8)), f32x4.splat(0.125));
  storeScaled(t, scA, d);
  storeScaled(t + 64, scB, d);
  storeScaled(t + 128, mA, dm);
  storeScaled(t + 192, mB, dm);
}

/** acc + d_x·(cvt(S)·D_j − cvt(8·Σx)·M_j) for the sub-block with int32 sums S, factors at f. */
// @ts-ignore: decorator
@inline export function finishK(s: v128, f: usize, xs: usize, xd: usize, acc: v128): v128 {
  const t = fnma(f32x4.convert_i32x4_s(v128.load32_splat(xs)), v128.load(f, 128),
    f32x4.mul(f32x4.convert_i32x4_s(s), v128.load(f)));
  return fma(t, v128.load32_splat(xd), acc);
}
