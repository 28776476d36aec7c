// Integer dot products of repacked Q4_0 row quads (layout in quantize.ts) with Q8_0-quantized
// activations: one row at a time against a quad's four rows (dotQ4Quad), four quads as four
// streams (dotQ4Quad4, decode), and four activation rows per pass over a quad (gemmQ4Quad4,
// prompts and batches). Block formula: ggml_vec_dot_q4_0_q8_0, Σ(q − 8)·x per 32, scaled by
// d_w·d_x in float32.

import { fma } from './simd';
import { scales4, C_F16MASK, C_F16SCALE, C_NIBBLE } from './dot';
import { keep, touch } from './ahead';

/**
 * Pair sums of 16 products x·u as eight i16 lanes: lane j = x[2j]·u[2j] + x[2j+1]·u[2j+1], x
 * signed bytes, u in 0..15 (a valid 7-bit operand; sums stay within ±3810).
 */
// @ts-ignore: decorator
@inline function dotPairs(x: v128, u: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i16x8.relaxed_dot_i8x16_i7x16_s(x, u);
  const lo = i16x8.extmul_low_i8x16_s(x, u), hi = i16x8.extmul_high_i8x16_s(x, u);
  return i16x8.add(
    i8x16.shuffle(lo, hi, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29),
    i8x16.shuffle(lo, hi, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31));
}

/**
 * A repacked Q4_0 row quad (4 rows, see quantize.ts) · one quantized activation row: the four
 * rows' results as f32x4. Per block, each 16-byte vector holds 4 elements of each row (lo
 * nibbles) and the 4 elements 16 further (hi nibbles); one dotPairs against the activation's
 * matching 4 bytes (splat) gives the four rows' partial sums in i16 pairs, 8 of them per block
 * stay within ±30480. Nibbles are unsigned: Σq·x − 8·Σx (xs holds 8·Σx per block) is the
 * block's Σ(q − 8)·x of ggml_vec_dot_q4_0_q8_0; its scales d_w·d_x apply per block in float32.
 */
export function dotQ4Quad(w: usize, xq: usize, xd: usize, xs: usize, K: i32, exact: bool): v128 {
  const nb = K >> 5, G = nb >> 2;
  const k15 = v128.load(C_NIBBLE), mask = v128.load(C_F16MASK), rescale = v128.load(C_F16SCALE);
  let acc = f32x4.splat(0);
  let tk: i32 = 0;
  for (let g = 0; g <= G; g++) {
    const cnt = <usize>(g < G ? 4 : nb & 3);
    if (cnt == 0) break;
    // 288 bytes per group of 4 blocks.
    tk += touch(w) + touch(w + 64) + touch(w + 128) + touch(w + 192) + touch(w + 256);
    const q = w + (cnt << 3);
    for (let j: usize = 0; j < cnt; j++) {
      acc = quadFinish(blockQuad(q + (j << 6), xq, k15), xs, xd, scales4(w + (j << 3), exact, mask, rescale), acc);
      xq += 32; xd += 4; xs += 4;
    }
    w += cnt * 72;
  }
  keep(tk);
  return acc;
}

/**
 * dotQ4Quad of the four quads at w, w + stride, w + 2·stride, w + 3·stride at once, stored to
 * out, out + ostride, … (whole quads only). Four streams keep more cache misses in flight (see
 * dotQ8Quad4 in q8.ts): ~+30–40% bandwidth on the 2B shapes, 2 threads.
 */
export function dotQ4Quad4(w: usize, stride: usize, xq: usize, xd: usize, xs: usize, K: i32, exact: bool, out: usize, ostride: usize): void {
  const nb = K >> 5, G = nb >> 2;
  const k15 = v128.load(C_NIBBLE), mask = v128.load(C_F16MASK), rescale = v128.load(C_F16SCALE);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let tk: i32 = 0;
  const s1 = stride, s2 = stride << 1, s3 = s1 + s2;
  for (let g = 0; g <= G; g++) {
    const cnt = <usize>(g < G ? 4 : nb & 3);
    if (cnt == 0) break;
    for (let t: usize = 0; t < 288; t += 64) tk += touch(w + t) + touch(w + s1 + t) + touch(w + s2 + t) + touch(w + s3 + t);
    let p = w + (cnt << 3);
    for (let j: usize = 0; j < cnt; j++) {
      // The four streams share every activation load: 4 + 4 splats per block instead of 4 × 8.
      // One vector per stream per iteration, pointers stepped (little address arithmetic).
      let b0 = i16x8.splat(0), b1 = i16x8.splat(0), b2 = i16x8.splat(0), b3 = i16x8.splat(0);
      for (let i = 0; i < 4; i++) {
        const xl = v128.load32_splat(xq), xh = v128.load32_splat(xq, 16);
        b0 = quadPair(v128.load(p), k15, xl, xh, b0);
        b1 = quadPair(v128.load(p + s1), k15, xl, xh, b1);
        b2 = quadPair(v128.load(p + s2), k15, xl, xh, b2);
        b3 = quadPair(v128.load(p + s3), k15, xl, xh, b3);
        p += 16; xq += 4;
      }
      xq += 16;
      const n8 = v128.load32_splat(xs), dx = v128.load32_splat(xd), sj = w + (j << 3);
      a0 = fma(f32x4.convert_i32x4_s(i32x4.sub(i32x4.extadd_pairwise_i16x8_s(b0), n8)), f32x4.mul(scales4(sj, exact, mask, rescale), dx), a0);
      a1 = fma(f32x4.convert_i32x4_s(i32x4.sub(i32x4.extadd_pairwise_i16x8_s(b1), n8)), f32x4.mul(scales4(sj + s1, exact, mask, rescale), dx), a1);
      a2 = fma(f32x4.convert_i32x4_s(i32x4.sub(i32x4.extadd_pairwise_i16x8_s(b2), n8)), f32x4.mul(scales4(sj + s2, exact, mask, rescale), dx), a2);
      a3 = fma(f32x4.convert_i32x4_s(i32x4.sub(i32x4.extadd_pairwise_i16x8_s(b3), n8)), f32x4.mul(scales4(sj + s3, exact, mask, rescale), dx), a3);
      xd += 4; xs += 4;
    }
    w += cnt * 72;
  }
  keep(tk);
  v128.store(out, a0);
  v128.store(out + ostride, a1);
  v128.store(out + 2 * ostride, a2);
  v128.store(out + 3 * ostride, a3);
}

/** One block of a quad (64 quant bytes at p) against the activation block at xq: i16 pair sums. */
// @ts-ignore: decorator
@inline function blockQuad(p: usize, xq: usize, k15: v128): v128 {
  let v = v128.load(p);
  let a = i16x8.add(dotPairs(v128.load32_splat(xq), v128.and(v, k15)), dotPairs(v128.load32_splat(xq, 16), v128.and(i16x8.shr_u(v, 4), k15)));
  v = v128.load(p, 16);
  a = i16x8.add(a, i16x8.add(dotPairs(v128.load32_splat(xq, 4), v128.and(v, k15)), dotPairs(v128.load32_splat(xq, 20), v128.and(i16x8.shr_u(v, 4), k15))));
  v = v128.load(p, 32);
  a = i16x8.add(a, i16x8.add(dotPairs(v128.load32_splat(xq, 8), v128.and(v, k15)), dotPairs(v128.load32_splat(xq, 24), v128.and(i16x8.shr_u(v, 4), k15))));
  v = v128.load(p, 48);
  return i16x8.add(a, i16x8.add(dotPairs(v128.load32_splat(xq, 12), v128.and(v, k15)), dotPairs(v128.load32_splat(xq, 28), v128.and(i16x8.shr_u(v, 4), k15))));
}

/** a + the pair sums of weight vector v (lo nibbles against xl, hi nibbles against xh). */
// @ts-ignore: decorator
@inline function quadPair(v: v128, k15: v128, xl: v128, xh: v128, a: v128): v128 {
  return i16x8.add(a, i16x8.add(dotPairs(xl, v128.and(v, k15)), dotPairs(xh, v128.and(i16x8.shr_u(v, 4), k15))));
}

// @ts-ignore: decorator
@inline function quadStep(v: v128, k15: v128, x: usize, o: usize, a: v128): v128 {
  return i16x8.add(a, i16x8.add(dotPairs(v128.load32_splat(x + o), v128.and(v, k15)),
    dotPairs(v128.load32_splat(x + o + 16), v128.and(i16x8.shr_u(v, 4), k15))));
}

// @ts-ignore: decorator
@inline function quadFinish(a: v128, xs: usize, xd: usize, sc: v128, acc: v128): v128 {
  const s = i32x4.sub(i32x4.extadd_pairwise_i16x8_s(a), v128.load32_splat(xs));
  return fma(f32x4.convert_i32x4_s(s), f32x4.mul(sc, v128.load32_splat(xd)), acc);
}

/**
 * dotQ4Quad for a group of four activation rows at once, their quants interleaved (at xg: per
 * block 128 bytes, vector i = 0..3 at 32i holding row t's elements 4i..4i+3 at 8t and the 4
 * elements 16 further at 8t + 4; see quantizeRows), scales/sums at + t·sStride: the weight
 * vectors are unpacked once for all four. One pointer walks the activations with constant
 * offsets (V8 keeps the eight offset bases in registers): little address arithmetic per vector.
 * Row t's four results go to out + t·os (`nr` of them, nr ≤ 4).
 */
export function gemmQ4Quad4(w: usize, xg: usize, d0: usize, s0: usize, sStride: usize, K: i32, exact: bool, out: usize, os: usize, nr: i32): void {
  const nb = K >> 5, G = nb >> 2;
  const k15 = v128.load(C_NIBBLE);
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  let so: usize = 0;
  for (let g = 0; g <= G; g++) {
    const cnt = <usize>(g < G ? 4 : nb & 3);
    if (cnt == 0) break;
    let p = w + (cnt << 3);
    for (let j: usize = 0; j < cnt; j++) {
      let a0 = i16x8.splat(0), a1 = i16x8.splat(0), a2 = i16x8.splat(0), a3 = i16x8.splat(0);
      for (let i = 0; i < 4; i++) {
        const v = v128.load(p);
        const lo = v128.and(v, k15), hi = v128.and(i16x8.shr_u(v, 4), k15);
        a0 = i16x8.add(a0, i16x8.add(dotPairs(v128.load32_splat(xg), lo), dotPairs(v128.load32_splat(xg, 4), hi)));
        a1 = i16x8.add(a1, i16x8.add(dotPairs(v128.load32_splat(xg, 8), lo), dotPairs(v128.load32_splat(xg, 12), hi)));
        a2 = i16x8.add(a2, i16x8.add(dotPairs(v128.load32_splat(xg, 16), lo), dotPairs(v128.load32_splat(xg, 20), hi)));
        a3 = i16x8.add(a3, i16x8.add(dotPairs(v128.load32_splat(xg, 24), lo), dotPairs(v128.load32_splat(xg, 28), hi)));
        p += 16; xg += 32;
      }
      const sc = scales4(w + (j << 3), exact, v128.load(C_F16MASK), v128.load(C_F16SCALE));
      c0 = quadFinish(a0, s0 + so, d0 + so, sc, c0);
      c1 = quadFinish(a1, s0 + so + sStride, d0 + so + sStride, sc, c1);
      c2 = quadFinish(a2, s0 + so + 2 * sStride, d0 + so + 2 * sStride, sc, c2);
      c3 = quadFinish(a3, s0 + so + 3 * sStride, d0 + so + 3 * sStride, sc, c3);
      so += 4;
    }
    w += cnt * 72;
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
