// Integer dot products of repacked Q4_0 and Q8_0 row quads (layouts in quantize.ts) with
// Q8_0-quantized activations: one activation row against a quad's four rows (dotQuad), four
// quads as four streams (dotQuad4, decode), and a group of four activation rows per pass over a
// quad (gemmQuad4, prompts and batches). Each kernel is one body for both types (`q8` is a
// constant at every call, so each export compiles to its own loop). Block formulas:
// ggml_vec_dot_q4_0_q8_0, Σ(q − 8)·x per 32, and ggml_vec_dot_q8_0_q8_0, Σ w·x per 32, in
// integers, each block scaled by d_w·d_x in float32; the four lanes of every vector are the
// quad's four rows, so no reduction is needed per block.
//
// Q4_0: a 16-byte vector holds 4 elements of each row (lo nibbles) and the 4 elements 16
// further (hi nibbles); one i16x8.relaxed_dot_i8x16_i7x16_s (x64 pmaddubsw, 16 multiply-adds)
// against the activation's matching 4 bytes (splat) gives the four rows' partial sums in i16
// pairs; 8 of them per block stay within ±30480. Nibbles are unsigned (a valid 7-bit operand):
// Σq·x − 8·Σx (xs holds 8·Σx per block) is the block's Σ(q − 8)·x.
//
// Q8_0: its signed weights are no valid 7-bit operand; moving the weight's sign onto the
// activation would cost three instructions per vector, and its pair sums (up to 2·127·127)
// leave no room to accumulate in int16. Instead each 8-byte chunk (4 rows × 2 elements) is
// sign-extended to an i16x8 and one i32x4.dot_i16x8_s (pmaddwd, 8 multiply-adds) against the
// activation's matching 2 elements as int16 (a splat of the int16 copy quantizeRows writes) adds
// to the four rows' int32 sums; a block's sums stay below 32·127·127 < 2^31.
//
// Loop shape (bench/README.md, "Kernels alone"): one step per iteration and stepped pointers.
// Unrolled straight-line code lets V8 hoist every load to the top of the block and spill.

import { fma } from './simd';
import { scales4, C_F16MASK, C_F16SCALE, C_NIBBLE } from './dot';
import { keep, touch } from './ahead';

/**
 * Pair sums of 16 products x·u as eight i16 lanes: lane j = x[2j]·u[2j] + x[2j+1]·u[2j+1], x
 * signed bytes, u in 0..15 (a valid 7-bit operand; sums stay within ±3810).
 */
// @ts-ignore: decorator
@inline export function dotPairs(x: v128, u: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i16x8.relaxed_dot_i8x16_i7x16_s(x, u);
  const lo = i16x8.extmul_low_i8x16_s(x, u), hi = i16x8.extmul_high_i8x16_s(x, u);
  return i16x8.add(
    i8x16.shuffle(lo, hi, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29),
    i8x16.shuffle(lo, hi, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31));
}

/** a + the pair sums of Q4_0 quad vector v (lo nibbles against xl, hi nibbles against xh). */
// @ts-ignore: decorator
@inline export function nibbles(v: v128, k15: v128, xl: v128, xh: v128, a: v128): v128 {
  return i16x8.add(a, i16x8.add(dotPairs(xl, v128.and(v, k15)), dotPairs(xh, v128.and(i16x8.shr_u(v, 4), k15))));
}

/** a + Q8_0 chunk (8 bytes at p) · the int16 pair splat x. */
// @ts-ignore: decorator
@inline function pairs(p: usize, x: v128, a: v128): v128 {
  return i32x4.add(a, i32x4.dot_i16x8_s(v128.load8x8_s(p), x));
}

/** Bytes of a quad's group of 4 blocks per block (scales 8 + quants). */
// @ts-ignore: decorator
@inline function blockBytes(q8: bool): usize {
  return q8 ? 136 : 72;
}

/** Q4_0's i16 pair sums as the block's int32 sums per row: Σq·x − 8·Σx (n8 at xs). */
// @ts-ignore: decorator
@inline function q4Sums(a: v128, xs: usize): v128 {
  return i32x4.sub(i32x4.extadd_pairwise_i16x8_s(a), v128.load32_splat(xs));
}

/** acc + the block sums s scaled by the quad's four scales sc and the activation's d_x at xd. */
// @ts-ignore: decorator
@inline function scaled(s: v128, sc: v128, xd: usize, acc: v128): v128 {
  return fma(f32x4.convert_i32x4_s(s), f32x4.mul(sc, v128.load32_splat(xd)), acc);
}

/**
 * A quad · one activation row (Q4_0: int8 quants at x, 8·Σx per block at xs; Q8_0: int16 pairs
 * at x; scales per block at xd): the four rows' results as f32x4.
 */
// @ts-ignore: decorator
@inline function dotQuad(q8: bool, w: usize, x: usize, xd: usize, xs: usize, K: i32, exact: bool): v128 {
  const nb = K >> 5, G = nb >> 2;
  const k15 = v128.load(C_NIBBLE), mask = v128.load(C_F16MASK), rescale = v128.load(C_F16SCALE);
  let acc = f32x4.splat(0);
  let tk: i32 = 0;
  for (let g = 0; g <= G; g++) {
    const cnt = <usize>(g < G ? 4 : nb & 3);
    if (cnt == 0) break;
    for (let t: usize = 0; t < blockBytes(q8) << 2; t += 64) tk += touch(w + t);
    let p = w + (cnt << 3);
    for (let j: usize = 0; j < cnt; j++) {
      let s: v128;
      if (q8) {
        // Two chains for the adder's latency, one pair of chunks per iteration.
        let a = i32x4.splat(0), b = i32x4.splat(0);
        for (let k = 0; k < 8; k++) {
          a = pairs(p, v128.load32_splat(x), a);
          b = pairs(p + 8, v128.load32_splat(x, 4), b);
          p += 16; x += 8;
        }
        s = i32x4.add(a, b);
      } else {
        let a = i16x8.splat(0);
        for (let i = 0; i < 4; i++) {
          a = nibbles(v128.load(p), k15, v128.load32_splat(x), v128.load32_splat(x, 16), a);
          p += 16; x += 4;
        }
        s = q4Sums(a, xs);
        x += 16; xs += 4;
      }
      acc = scaled(s, scales4(w + (j << 3), exact, mask, rescale), xd, acc);
      xd += 4;
    }
    w += cnt * blockBytes(q8);
  }
  keep(tk);
  return acc;
}

/**
 * dotQuad of the four quads at w, w + stride, w + 2·stride, w + 3·stride at once, stored to out,
 * out + ostride, … Four independent streams keep more cache misses in flight than one: with
 * 4 KiB pages the hardware prefetcher restarts at every page, and one stream with a dot
 * product's worth of instructions per line leaves the memory system idle part of the time
 * (~+30–40% bandwidth on the 2B shapes, 2 threads, bench/cpu.ts). The streams share every
 * activation load.
 */
// @ts-ignore: decorator
@inline function dotQuad4(q8: bool, w: usize, stride: usize, x: usize, xd: usize, xs: usize, K: i32, exact: bool, out: usize, ostride: usize): void {
  const nb = K >> 5, G = nb >> 2;
  const k15 = v128.load(C_NIBBLE), mask = v128.load(C_F16MASK), rescale = v128.load(C_F16SCALE);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let tk: i32 = 0;
  const s1 = stride, s2 = stride << 1, s3 = s1 + s2;
  for (let g = 0; g <= G; g++) {
    const cnt = <usize>(g < G ? 4 : nb & 3);
    if (cnt == 0) break;
    for (let t: usize = 0; t < blockBytes(q8) << 2; t += 64) tk += touch(w + t) + touch(w + s1 + t) + touch(w + s2 + t) + touch(w + s3 + t);
    let p = w + (cnt << 3);
    for (let j: usize = 0; j < cnt; j++) {
      let b0 = i32x4.splat(0), b1 = i32x4.splat(0), b2 = i32x4.splat(0), b3 = i32x4.splat(0);
      if (q8) {
        for (let k = 0; k < 16; k++) {
          const xv = v128.load32_splat(x);
          b0 = pairs(p, xv, b0); b1 = pairs(p + s1, xv, b1); b2 = pairs(p + s2, xv, b2); b3 = pairs(p + s3, xv, b3);
          p += 8; x += 4;
        }
      } else {
        // b0..b3 hold i16 pair sums here (4 + 4 splats per block shared by the four streams).
        for (let i = 0; i < 4; i++) {
          const xl = v128.load32_splat(x), xh = v128.load32_splat(x, 16);
          b0 = nibbles(v128.load(p), k15, xl, xh, b0);
          b1 = nibbles(v128.load(p + s1), k15, xl, xh, b1);
          b2 = nibbles(v128.load(p + s2), k15, xl, xh, b2);
          b3 = nibbles(v128.load(p + s3), k15, xl, xh, b3);
          p += 16; x += 4;
        }
        b0 = q4Sums(b0, xs); b1 = q4Sums(b1, xs); b2 = q4Sums(b2, xs); b3 = q4Sums(b3, xs);
        x += 16; xs += 4;
      }
      const sj = w + (j << 3);
      a0 = scaled(b0, scales4(sj, exact, mask, rescale), xd, a0);
      a1 = scaled(b1, scales4(sj + s1, exact, mask, rescale), xd, a1);
      a2 = scaled(b2, scales4(sj + s2, exact, mask, rescale), xd, a2);
      a3 = scaled(b3, scales4(sj + s3, exact, mask, rescale), xd, a3);
      xd += 4;
    }
    w += cnt * blockBytes(q8);
  }
  keep(tk);
  v128.store(out, a0);
  v128.store(out + ostride, a1);
  v128.store(out + 2 * ostride, a2);
  v128.store(out + 3 * ostride, a3);
}

/**
 * dotQuad for a group of four activation rows at once, interleaved (see quantizeRows) at xg:
 * Q4_0 per block 128 bytes, vector i = 0..3 at 32i holding row t's elements 4i..4i+3 at 8t and
 * the 4 elements 16 further at 8t + 4; Q8_0 int16 pairs, pair c of row t at 16c + 4t. Scales (and
 * Q4_0's 8·Σx) of row t at d0 (s0) + t·sStride. Each weight vector is unpacked or sign-extended
 * once for all four rows; one pointer walks the activations with constant offsets. Row t's four
 * results go to out + t·os (`nr` of them, nr ≤ 4).
 */
// @ts-ignore: decorator
@inline function gemmQuad4(q8: bool, w: usize, xg: usize, d0: usize, s0: usize, sStride: usize, K: i32, exact: bool, out: usize, os: usize, nr: i32): void {
  const nb = K >> 5, G = nb >> 2;
  const k15 = v128.load(C_NIBBLE);
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  let so: usize = 0;
  for (let g = 0; g <= G; g++) {
    const cnt = <usize>(g < G ? 4 : nb & 3);
    if (cnt == 0) break;
    let p = w + (cnt << 3);
    for (let j: usize = 0; j < cnt; j++) {
      let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
      if (q8) {
        for (let k = 0; k < 16; k++) {
          const v = v128.load8x8_s(p);
          a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v, v128.load32_splat(xg)));
          a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v, v128.load32_splat(xg, 4)));
          a2 = i32x4.add(a2, i32x4.dot_i16x8_s(v, v128.load32_splat(xg, 8)));
          a3 = i32x4.add(a3, i32x4.dot_i16x8_s(v, v128.load32_splat(xg, 12)));
          p += 8; xg += 16;
        }
      } else {
        // a0..a3 hold i16 pair sums here.
        for (let i = 0; i < 4; i++) {
          const v = v128.load(p);
          const lo = v128.and(v, k15), hi = v128.and(i16x8.shr_u(v, 4), k15);
          a0 = i16x8.add(a0, i16x8.add(dotPairs(v128.load32_splat(xg), lo), dotPairs(v128.load32_splat(xg, 4), hi)));
          a1 = i16x8.add(a1, i16x8.add(dotPairs(v128.load32_splat(xg, 8), lo), dotPairs(v128.load32_splat(xg, 12), hi)));
          a2 = i16x8.add(a2, i16x8.add(dotPairs(v128.load32_splat(xg, 16), lo), dotPairs(v128.load32_splat(xg, 20), hi)));
          a3 = i16x8.add(a3, i16x8.add(dotPairs(v128.load32_splat(xg, 24), lo), dotPairs(v128.load32_splat(xg, 28), hi)));
          p += 16; xg += 32;
        }
        a0 = q4Sums(a0, s0 + so); a1 = q4Sums(a1, s0 + so + sStride);
        a2 = q4Sums(a2, s0 + so + 2 * sStride); a3 = q4Sums(a3, s0 + so + 3 * sStride);
      }
      const sc = scales4(w + (j << 3), exact, v128.load(C_F16MASK), v128.load(C_F16SCALE));
      c0 = scaled(a0, sc, d0 + so, c0);
      c1 = scaled(a1, sc, d0 + so + sStride, c1);
      c2 = scaled(a2, sc, d0 + so + 2 * sStride, c2);
      c3 = scaled(a3, sc, d0 + so + 3 * sStride, c3);
      so += 4;
    }
    w += cnt * blockBytes(q8);
  }
  storeQuad(out, c0, nr);
  storeQuad(out + os, c1, nr);
  storeQuad(out + 2 * os, c2, nr);
  storeQuad(out + 3 * os, c3, nr);
}

/** The first `nr` (1..4) lanes of v at p. */
export function storeQuad(p: usize, v: v128, nr: i32): void {
  if (nr >= 4) { v128.store(p, v); return; }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (nr > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (nr > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

// Q4_0: activations as int8 quants (xq, row stride K), scales xd and 8·Σx xs per block; GEMM groups interleaved.
export function dotQ4Quad(w: usize, xq: usize, xd: usize, xs: usize, K: i32, exact: bool): v128 {
  return dotQuad(false, w, xq, xd, xs, K, exact);
}
export function dotQ4Quad4(w: usize, stride: usize, xq: usize, xd: usize, xs: usize, K: i32, exact: bool, out: usize, ostride: usize): void {
  dotQuad4(false, w, stride, xq, xd, xs, K, exact, out, ostride);
}
export function gemmQ4Quad4(w: usize, xg: usize, d0: usize, s0: usize, sStride: usize, K: i32, exact: bool, out: usize, os: usize, nr: i32): void {
  gemmQuad4(false, w, xg, d0, s0, sStride, K, exact, out, os, nr);
}

// Q8_0: activations as int16 pairs (xw, row stride 2K; GEMM groups interleaved), scales xd per block.
export function dotQ8Quad(w: usize, xw: usize, xd: usize, K: i32, exact: bool): v128 {
  return dotQuad(true, w, xw, xd, 0, K, exact);
}
export function dotQ8Quad4(w: usize, stride: usize, xw: usize, xd: usize, K: i32, exact: bool, out: usize, ostride: usize): void {
  dotQuad4(true, w, stride, xw, xd, 0, K, exact, out, ostride);
}
export function gemmQ8Quad4(w: usize, xg: usize, d0: usize, dStride: usize, K: i32, exact: bool, out: usize, os: usize, nr: i32): void {
  gemmQuad4(true, w, xg, d0, 0, dStride, K, exact, out, os, nr);
}
