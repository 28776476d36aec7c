// Integer dot products of Q5_K and Q6_K weight rows (GGUF layout) with Q8_0-quantized
// activations (Q4_K is repacked into row quads: kquad.ts). The formulas are ggml's
// dequantize_row_q5_K / _q6_K (ggml-quants.c) folded into the dot product: per sub-block,
// d·sc·Σq·x − dmin·m·Σx (Q5_K, Q4_K's formula) and d·sc·(Σq·x − 32·Σx) (Q6_K),
// with the activation block scale d_x of the 32 elements the sub-block lies in. Each type has a
// superblock step (one accumulator: the mins are subtracted from it), a one-row dot product and
// a four-row one whose rows are four streams (see dotQuad4 in quad.ts).

import { fma, fnma, hsum, hsum4 } from './simd';
import { scale1, C_NIBBLE } from './dot';
import { keep, touch } from './ahead';
import { Q5_K, Q6_K } from './dequant';

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

/** The same over 32 bytes (u0·s0 + u1·s1); i16 pair sums stay below 2·2·63·127. */
// @ts-ignore: decorator
@inline function dotUS2(u0: v128, s0: v128, u1: v128, s1: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(s0, u0), i16x8.relaxed_dot_i8x16_i7x16_s(s1, u1)));
  }
  return i32x4.add(dotUS(u0, s0), dotUS(u1, s1));
}

/**
 * The end of a Q5_K superblock step: with lo / hi the Σq·x of sub-blocks 0–3 / 4–7,
 * acc + Σ_j d·sc_j·d_x·(Σq·x)_j − dmin·m_j·d_x·Σx_j. The 12 scale bytes at w + 4 unpack as in
 * ggml's AVX2 vec_dot (utmp words): bytes 0–7 the eight 6-bit scales, bytes 8–15 the mins.
 */
// @ts-ignore: decorator
@inline function finishKMin(w: usize, lo: v128, hi: v128, xd: usize, xs8: usize, acc: v128): v128 {
  const u0 = load<u32>(w, 4), u1 = load<u32>(w, 8), u2 = load<u32>(w, 12);
  const t3 = ((u2 >> 4) & 0x0f0f0f0f) | (((u1 >> 6) & 0x03030303) << 4);
  const t1 = (u2 & 0x0f0f0f0f) | (((u0 >> 6) & 0x03030303) << 4);
  const sm = i32x4.replace_lane(i32x4.replace_lane(i32x4.replace_lane(i32x4.splat(u0 & 0x3f3f3f3f), 1, t1), 2, u1 & 0x3f3f3f3f), 3, t3);
  const sc16 = i16x8.extend_low_i8x16_u(sm), m16 = i16x8.extend_high_i8x16_u(sm);
  const d = scale1(w), dmin = scale1(w + 2);
  const dxl = v128.load(xd), dxh = v128.load(xd, 16);
  acc = fma(f32x4.convert_i32x4_s(lo), f32x4.mul(f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(sc16)), f32x4.mul(d, dxl)), acc);
  acc = fma(f32x4.convert_i32x4_s(hi), f32x4.mul(f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(sc16)), f32x4.mul(d, dxh)), acc);
  // Σx per block is (8·Σq)/8; the 1/8 goes into dmin.
  const dm = f32x4.mul(dmin, f32x4.splat(0.125));
  acc = fnma(f32x4.convert_i32x4_s(v128.load(xs8)), f32x4.mul(f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(m16)), f32x4.mul(dm, dxl)), acc);
  acc = fnma(f32x4.convert_i32x4_s(v128.load(xs8, 16)), f32x4.mul(f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(m16)), f32x4.mul(dm, dxh)), acc);
  return acc;
}

/**
 * One Q5_K superblock · quantized activations, added to acc. Layout (GGUF): d, dmin,
 * scales[12] (6-bit scales and mins as ggml's get_scale_min_k4 reads them), qh[32], then qs as
 * Q4_K's (qs byte 32p + l: element l of sub-block 2p in the lo nibble, of 2p + 1 in the hi), whose bit 2j / 2j+1 of byte l adds 16 to element l of sub-block 2j / 2j+1
 * (dequantize_row_q5_K).
 */
// @ts-ignore: decorator
@inline function stepQ5K(w: usize, xq: usize, xd: usize, xs8: usize, k15: v128, k16: v128, acc: v128): v128 {
  const h0 = v128.load(w, 16), h1 = v128.load(w, 32);
  const q = w + 48;
  // Sub-block 2j: low nibbles | ((qh >> 2j) & 1) << 4; sub-block 2j + 1: high nibbles | bit 2j+1.
  const s0 = dotUS2(v128.or(v128.and(v128.load(q), k15), v128.and(i16x8.shl(h0, 4), k16)), v128.load(xq),
    v128.or(v128.and(v128.load(q, 16), k15), v128.and(i16x8.shl(h1, 4), k16)), v128.load(xq, 16));
  const s1 = dotUS2(v128.or(v128.and(i16x8.shr_u(v128.load(q), 4), k15), v128.and(i16x8.shl(h0, 3), k16)), v128.load(xq, 32),
    v128.or(v128.and(i16x8.shr_u(v128.load(q, 16), 4), k15), v128.and(i16x8.shl(h1, 3), k16)), v128.load(xq, 48));
  const s2 = dotUS2(v128.or(v128.and(v128.load(q, 32), k15), v128.and(i16x8.shl(h0, 2), k16)), v128.load(xq, 64),
    v128.or(v128.and(v128.load(q, 48), k15), v128.and(i16x8.shl(h1, 2), k16)), v128.load(xq, 80));
  const s3 = dotUS2(v128.or(v128.and(i16x8.shr_u(v128.load(q, 32), 4), k15), v128.and(i16x8.shl(h0, 1), k16)), v128.load(xq, 96),
    v128.or(v128.and(i16x8.shr_u(v128.load(q, 48), 4), k15), v128.and(i16x8.shl(h1, 1), k16)), v128.load(xq, 112));
  const s4 = dotUS2(v128.or(v128.and(v128.load(q, 64), k15), v128.and(h0, k16)), v128.load(xq, 128),
    v128.or(v128.and(v128.load(q, 80), k15), v128.and(h1, k16)), v128.load(xq, 144));
  const s5 = dotUS2(v128.or(v128.and(i16x8.shr_u(v128.load(q, 64), 4), k15), v128.and(i16x8.shr_u(h0, 1), k16)), v128.load(xq, 160),
    v128.or(v128.and(i16x8.shr_u(v128.load(q, 80), 4), k15), v128.and(i16x8.shr_u(h1, 1), k16)), v128.load(xq, 176));
  const s6 = dotUS2(v128.or(v128.and(v128.load(q, 96), k15), v128.and(i16x8.shr_u(h0, 2), k16)), v128.load(xq, 192),
    v128.or(v128.and(v128.load(q, 112), k15), v128.and(i16x8.shr_u(h1, 2), k16)), v128.load(xq, 208));
  const s7 = dotUS2(v128.or(v128.and(i16x8.shr_u(v128.load(q, 96), 4), k15), v128.and(i16x8.shr_u(h0, 3), k16)), v128.load(xq, 224),
    v128.or(v128.and(i16x8.shr_u(v128.load(q, 112), 4), k15), v128.and(i16x8.shr_u(h1, 3), k16)), v128.load(xq, 240));
  return finishKMin(w, reduce4(s0, s1, s2, s3), reduce4(s4, s5, s6, s7), xd, xs8, acc);
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

// The row drivers, one body for the three types (`type` is a constant at every call, so each
// export compiles to its own loop): one row, or four rows as four streams (see dotQuad4 in quad.ts).

// @ts-ignore: decorator
@inline function stepK(type: i32, w: usize, xq: usize, xd: usize, xs: usize, k15: v128, kx: v128, acc: v128): v128 {
  if (type == Q5_K) return stepQ5K(w, xq, xd, xs, k15, kx, acc);
  return stepQ6K(w, xq, xd, xs, k15, kx, acc);
}

/** Touches the lines of the superblock at p, AHEAD bytes on (ahead.ts). */
// @ts-ignore: decorator
@inline function touchK(type: i32, p: usize): i32 {
  const t = touch(p) + touch(p + 64) + touch(p + 128);
  return type == Q6_K ? t + touch(p + 192) : t;
}

// @ts-ignore: decorator
@inline function dotKRow(type: i32, w: usize, xq: usize, xd: usize, xs: usize, K: i32): f32 {
  const nsb = K >> 8, bytes: usize = type == Q5_K ? 176 : 210, xsStep: usize = type == Q6_K ? 64 : 32;
  const k15 = v128.load(C_NIBBLE), kx = i8x16.splat(type == Q5_K ? 0x10 : 0x30);
  let acc = f32x4.splat(0);
  let tk: i32 = 0;
  for (let sb = 0; sb < nsb; sb++) {
    tk += touchK(type, w);
    acc = stepK(type, w, xq, xd, xs, k15, kx, acc);
    w += bytes; xq += 256; xd += 32; xs += xsStep;
  }
  keep(tk);
  return hsum(acc);
}

// @ts-ignore: decorator
@inline function dotKRows4(type: i32, w: usize, stride: usize, xq: usize, xd: usize, xs: usize, K: i32): v128 {
  const nsb = K >> 8, bytes: usize = type == Q5_K ? 176 : 210, xsStep: usize = type == Q6_K ? 64 : 32;
  const k15 = v128.load(C_NIBBLE), kx = i8x16.splat(type == Q5_K ? 0x10 : 0x30);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let tk: i32 = 0;
  const w1 = w + stride, w2 = w1 + stride, w3 = w2 + stride;
  for (let o: usize = 0, sb = 0; sb < nsb; sb++, o += bytes) {
    tk += touchK(type, w + o) + touchK(type, w1 + o) + touchK(type, w2 + o) + touchK(type, w3 + o);
    a0 = stepK(type, w + o, xq, xd, xs, k15, kx, a0);
    a1 = stepK(type, w1 + o, xq, xd, xs, k15, kx, a1);
    a2 = stepK(type, w2 + o, xq, xd, xs, k15, kx, a2);
    a3 = stepK(type, w3 + o, xq, xd, xs, k15, kx, a3);
    xq += 256; xd += 32; xs += xsStep;
  }
  keep(tk);
  return hsum4(a0, a1, a2, a3);
}

/** Row · quantized activation row; xs: per block 8·Σq (Q5_K) or per 16 Σq (Q6_K). */
export function dotQ5K(w: usize, xq: usize, xd: usize, xs8: usize, K: i32): f32 { return dotKRow(Q5_K, w, xq, xd, xs8, K); }
export function dotQ6K(w: usize, xq: usize, xd: usize, xs16: usize, K: i32): f32 { return dotKRow(Q6_K, w, xq, xd, xs16, K); }

/** The same for the rows at w + i·stride, i = 0..3 (lane i). */
export function dotQ5Kx4(w: usize, stride: usize, xq: usize, xd: usize, xs8: usize, K: i32): v128 { return dotKRows4(Q5_K, w, stride, xq, xd, xs8, K); }
export function dotQ6Kx4(w: usize, stride: usize, xq: usize, xd: usize, xs16: usize, K: i32): v128 { return dotKRows4(Q6_K, w, stride, xq, xd, xs16, K); }
