// Integer dot products of repacked Q4_0, Q8_0, Q4_K and Q5_K row quads (layouts in quantize.ts)
// with Q8_0-quantized activations: one activation row against a quad's four rows (dotQuad), four
// quads as four streams (dotQuad4, decode), and a group of four activation rows per pass over a
// quad (gemmQuad4, prompts and batches). Each kernel is one body for the four layouts; the
// exports dispatch on the layout and call it with a constant, so each layout compiles to its own
// loop. Block formulas: ggml_vec_dot_q4_0_q8_0, Σ(q − 8)·x per 32, ggml_vec_dot_q8_0_q8_0,
// Σ w·x per 32, and Q4_K's / Q5_K's per 32-element sub-block (kquad.ts), in integers, each block
// scaled in float32; the four lanes of every vector are the quad's four rows, so no reduction is
// needed per block. The loops run over units: Q4_0 / Q8_0 groups of 4 blocks (the last one
// shorter) behind 8 bytes of scales per block, K-quant superblocks of 8 sub-blocks behind a
// 64-byte header.
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
import { finishK, unpackScales } from './kquad';
import { Q4_0R4 as Q40, Q8_0R4 as Q80, Q4_KR4 as Q4K, Q5_KR4 as Q5K } from './dequant';

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

/** a + the pair sums of Q4_0 quad vector v (lo nibbles against xl, hi nibbles against xh). */
// @ts-ignore: decorator
@inline function nibbles(v: v128, k15: v128, xl: v128, xh: v128, a: v128): v128 {
  return i16x8.add(a, i16x8.add(dotPairs(xl, v128.and(v, k15)), dotPairs(xh, v128.and(i16x8.shr_u(v, 4), k15))));
}

/**
 * The i16 pair sums of Q5_K quad vector v (lo nibbles against xl, hi nibbles against xh) with
 * the fifth bits in bits 0 and 1 of h's bytes (each at most 2·2·31·127 = 15748, so a block sums
 * in int32).
 */
// @ts-ignore: decorator
@inline function nibbles5(v: v128, h: v128, k15: v128, xl: v128, xh: v128): v128 {
  // i16 shifts: the masks keep each byte's own bits.
  const k16 = i8x16.splat(16);
  const lo = v128.or(v128.and(v, k15), v128.and(i16x8.shl(h, 4), k16));
  const hi = v128.or(v128.and(i16x8.shr_u(v, 4), k15), v128.and(i16x8.shl(h, 3), k16));
  return i16x8.add(dotPairs(xl, lo), dotPairs(xh, hi));
}

/** a + Q8_0 chunk (8 bytes at p) · the int16 pair splat x. */
// @ts-ignore: decorator
@inline function pairs(p: usize, x: v128, a: v128): v128 {
  return i32x4.add(a, i32x4.dot_i16x8_s(v128.load8x8_s(p), x));
}

// Layout ids (dequant.ts), ordered so that `type >= Q4K` means a K-quant.

/** Units of a row of K: groups of 4 blocks (and a shorter last one, maybe empty) or superblocks. */
// @ts-ignore: decorator
@inline function units(type: i32, K: i32): i32 {
  return type >= Q4K ? K >> 8 : (K >> 7) + 1;
}

/** Blocks (sub-blocks) in unit g. */
// @ts-ignore: decorator
@inline function blocksIn(type: i32, K: i32, g: i32): usize {
  if (type >= Q4K) return 8;
  return <usize>(g < K >> 7 ? 4 : (K >> 5) & 3);
}

/** Header bytes of a unit of cnt blocks (their scales), and the unit's bytes. */
// @ts-ignore: decorator
@inline function headBytes(type: i32, cnt: usize): usize {
  return type >= Q4K ? 64 : cnt << 3;
}
// @ts-ignore: decorator
@inline function unitBytes(type: i32, cnt: usize): usize {
  return type == Q5K ? 704 : type == Q4K ? 576 : cnt * (type == Q80 ? 136 : 72);
}

/** Touches the unit at p (a full group's bytes), AHEAD bytes on (ahead.ts). */
// @ts-ignore: decorator
@inline function touchUnit(type: i32, p: usize): i32 {
  let t = 0;
  for (let o: usize = 0; o < unitBytes(type, 4); o += 64) t += touch(p + o);
  return t;
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

/** The four rows' scales of block j of the unit at w (Q4_0, Q8_0; Q4_K's are in tmp: unused). */
// @ts-ignore: decorator
@inline function blockScales(type: i32, w: usize, j: usize, exact: bool): v128 {
  if (type >= Q4K) return f32x4.splat(0);
  return scales4(w + (j << 3), exact, v128.load(C_F16MASK), v128.load(C_F16SCALE));
}

/**
 * acc + a block (sub-block) whose integer sums are s (Q8_0, Q5_K: int32; Q4_0, Q4_K: i16
 * pairs), scaled: Q8_0 / Q4_0 by the quad's four scales sc and the activation's d_x at xd (Q4_0
 * less 8·Σx at xs first), Q4_K / Q5_K by their unpacked factors at f (kquad.ts).
 */
// @ts-ignore: decorator
@inline function finishBlock(type: i32, s: v128, sc: v128, f: usize, xd: usize, xs: usize, acc: v128): v128 {
  if (type == Q4K) return finishK(i32x4.extadd_pairwise_i16x8_s(s), f, xs, xd, acc);
  if (type == Q5K) return finishK(s, f, xs, xd, acc);
  return scaled(type == Q40 ? q4Sums(s, xs) : s, sc, xd, acc);
}

/**
 * A quad · one activation row (Q4_0, Q4_K: int8 quants at x, 8·Σx per block at xs; Q8_0: int16
 * pairs at x; scales per block at xd; `tmp`: 256 bytes of scratch for the K-quants): the four rows'
 * results as f32x4.
 */
// @ts-ignore: decorator
@inline function dotQuad(type: i32, w: usize, x: usize, xd: usize, xs: usize, K: i32, exact: bool, tmp: usize): v128 {
  const k15 = v128.load(C_NIBBLE);
  let acc = f32x4.splat(0);
  let tk: i32 = 0;
  for (let g = 0, n = units(type, K); g < n; g++) {
    const cnt = blocksIn(type, K, g);
    if (cnt == 0) break;
    tk += touchUnit(type, w);
    if (type >= Q4K) unpackScales(w, tmp);
    let p = w + headBytes(type, cnt);
    for (let j: usize = 0; j < cnt; j++) {
      let s: v128;
      if (type == Q80) {
        // Two chains for the adder's latency, one pair of chunks per iteration.
        let a = i32x4.splat(0), b = i32x4.splat(0);
        for (let k = 0; k < 8; k++) {
          a = pairs(p, v128.load32_splat(x), a);
          b = pairs(p + 8, v128.load32_splat(x, 4), b);
          p += 16; x += 8;
        }
        s = i32x4.add(a, b);
      } else if (type == Q5K) {
        // Fifth bits of vector i: bits 2i, 2i + 1 of the sub-block's 16 bytes at w + 576 + 16j.
        let a = i32x4.splat(0);
        const hj = w + 576 + (j << 4);
        for (let i = 0; i < 4; i++) {
          const h = i16x8.shr_u(v128.load(hj), i << 1);
          a = i32x4.add(a, i32x4.extadd_pairwise_i16x8_s(nibbles5(v128.load(p), h, k15, v128.load32_splat(x), v128.load32_splat(x, 16))));
          p += 16; x += 4;
        }
        s = a;
        x += 16;
      } else {
        let a = i16x8.splat(0);
        for (let i = 0; i < 4; i++) {
          a = nibbles(v128.load(p), k15, v128.load32_splat(x), v128.load32_splat(x, 16), a);
          p += 16; x += 4;
        }
        s = a;
        x += 16;
      }
      acc = finishBlock(type, s, blockScales(type, w, j, exact), tmp + (j << 4), xd, xs, acc);
      xd += 4; xs += 4;
    }
    w += unitBytes(type, cnt);
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
 * activation load. `tmp`: 1 KiB of scratch for the K-quants.
 */
// @ts-ignore: decorator
@inline function dotQuad4(type: i32, w: usize, stride: usize, x: usize, xd: usize, xs: usize, K: i32, exact: bool, out: usize, ostride: usize, tmp: usize): void {
  const k15 = v128.load(C_NIBBLE);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let tk: i32 = 0;
  const s1 = stride, s2 = stride << 1, s3 = s1 + s2;
  for (let g = 0, n = units(type, K); g < n; g++) {
    const cnt = blocksIn(type, K, g);
    if (cnt == 0) break;
    tk += touchUnit(type, w) + touchUnit(type, w + s1) + touchUnit(type, w + s2) + touchUnit(type, w + s3);
    if (type >= Q4K) {
      unpackScales(w, tmp); unpackScales(w + s1, tmp + 256); unpackScales(w + s2, tmp + 512); unpackScales(w + s3, tmp + 768);
    }
    let p = w + headBytes(type, cnt);
    for (let j: usize = 0; j < cnt; j++) {
      let b0 = i32x4.splat(0), b1 = i32x4.splat(0), b2 = i32x4.splat(0), b3 = i32x4.splat(0);
      if (type == Q80) {
        for (let k = 0; k < 16; k++) {
          const xv = v128.load32_splat(x);
          b0 = pairs(p, xv, b0); b1 = pairs(p + s1, xv, b1); b2 = pairs(p + s2, xv, b2); b3 = pairs(p + s3, xv, b3);
          p += 8; x += 4;
        }
      } else if (type == Q5K) {
        const hj = w + 576 + (j << 4);
        for (let i = 0; i < 4; i++) {
          const xl = v128.load32_splat(x), xh = v128.load32_splat(x, 16), sh = i << 1;
          b0 = i32x4.add(b0, i32x4.extadd_pairwise_i16x8_s(nibbles5(v128.load(p), i16x8.shr_u(v128.load(hj), sh), k15, xl, xh)));
          b1 = i32x4.add(b1, i32x4.extadd_pairwise_i16x8_s(nibbles5(v128.load(p + s1), i16x8.shr_u(v128.load(hj + s1), sh), k15, xl, xh)));
          b2 = i32x4.add(b2, i32x4.extadd_pairwise_i16x8_s(nibbles5(v128.load(p + s2), i16x8.shr_u(v128.load(hj + s2), sh), k15, xl, xh)));
          b3 = i32x4.add(b3, i32x4.extadd_pairwise_i16x8_s(nibbles5(v128.load(p + s3), i16x8.shr_u(v128.load(hj + s3), sh), k15, xl, xh)));
          p += 16; x += 4;
        }
        x += 16;
      } else {
        // i16 pair sums; 4 + 4 splats per block shared by the four streams.
        for (let i = 0; i < 4; i++) {
          const xl = v128.load32_splat(x), xh = v128.load32_splat(x, 16);
          b0 = nibbles(v128.load(p), k15, xl, xh, b0);
          b1 = nibbles(v128.load(p + s1), k15, xl, xh, b1);
          b2 = nibbles(v128.load(p + s2), k15, xl, xh, b2);
          b3 = nibbles(v128.load(p + s3), k15, xl, xh, b3);
          p += 16; x += 4;
        }
        x += 16;
      }
      const f = tmp + (j << 4);
      a0 = finishBlock(type, b0, blockScales(type, w, j, exact), f, xd, xs, a0);
      a1 = finishBlock(type, b1, blockScales(type, w + s1, j, exact), f + 256, xd, xs, a1);
      a2 = finishBlock(type, b2, blockScales(type, w + s2, j, exact), f + 512, xd, xs, a2);
      a3 = finishBlock(type, b3, blockScales(type, w + s3, j, exact), f + 768, xd, xs, a3);
      xd += 4; xs += 4;
    }
    w += unitBytes(type, cnt);
  }
  keep(tk);
  v128.store(out, a0);
  v128.store(out + ostride, a1);
  v128.store(out + 2 * ostride, a2);
  v128.store(out + 3 * ostride, a3);
}

/**
 * dotQuad for a group of four activation rows at once, interleaved (see quantizeRows) at xg:
 * Q4_0 / K-quants per block 128 bytes, vector i = 0..3 at 32i holding row t's elements 4i..4i+3 at
 * 8t and the 4 elements 16 further at 8t + 4; Q8_0 int16 pairs, pair c of row t at 16c + 4t.
 * Scales (and 8·Σx) of row t at d0 (s0) + t·sStride. Each weight vector is unpacked or
 * sign-extended once for all four rows; one pointer walks the activations with constant
 * offsets. Row t's four results go to out + t·os (`nr` of them, nr ≤ 4).
 */
// @ts-ignore: decorator
@inline function gemmQuad4(type: i32, w: usize, xg: usize, d0: usize, s0: usize, sStride: usize, K: i32, exact: bool, out: usize, os: usize, nr: i32, tmp: usize): void {
  const k15 = v128.load(C_NIBBLE);
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  let so: usize = 0;
  for (let g = 0, n = units(type, K); g < n; g++) {
    const cnt = blocksIn(type, K, g);
    if (cnt == 0) break;
    if (type >= Q4K) unpackScales(w, tmp);
    let p = w + headBytes(type, cnt);
    for (let j: usize = 0; j < cnt; j++) {
      let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
      if (type == Q80) {
        for (let k = 0; k < 16; k++) {
          const v = v128.load8x8_s(p);
          a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v, v128.load32_splat(xg)));
          a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v, v128.load32_splat(xg, 4)));
          a2 = i32x4.add(a2, i32x4.dot_i16x8_s(v, v128.load32_splat(xg, 8)));
          a3 = i32x4.add(a3, i32x4.dot_i16x8_s(v, v128.load32_splat(xg, 12)));
          p += 8; xg += 16;
        }
      } else if (type == Q5K) {
        // int32 sums: the fifth bits added once per weight vector for the four rows.
        const hj = w + 576 + (j << 4), k16 = i8x16.splat(16);
        for (let i = 0; i < 4; i++) {
          const v = v128.load(p), h = i16x8.shr_u(v128.load(hj), i << 1);
          const lo = v128.or(v128.and(v, k15), v128.and(i16x8.shl(h, 4), k16));
          const hi = v128.or(v128.and(i16x8.shr_u(v, 4), k15), v128.and(i16x8.shl(h, 3), k16));
          a0 = i32x4.add(a0, i32x4.extadd_pairwise_i16x8_s(i16x8.add(dotPairs(v128.load32_splat(xg), lo), dotPairs(v128.load32_splat(xg, 4), hi))));
          a1 = i32x4.add(a1, i32x4.extadd_pairwise_i16x8_s(i16x8.add(dotPairs(v128.load32_splat(xg, 8), lo), dotPairs(v128.load32_splat(xg, 12), hi))));
          a2 = i32x4.add(a2, i32x4.extadd_pairwise_i16x8_s(i16x8.add(dotPairs(v128.load32_splat(xg, 16), lo), dotPairs(v128.load32_splat(xg, 20), hi))));
          a3 = i32x4.add(a3, i32x4.extadd_pairwise_i16x8_s(i16x8.add(dotPairs(v128.load32_splat(xg, 24), lo), dotPairs(v128.load32_splat(xg, 28), hi))));
          p += 16; xg += 32;
        }
      } else {
        // i16 pair sums.
        for (let i = 0; i < 4; i++) {
          const v = v128.load(p);
          const lo = v128.and(v, k15), hi = v128.and(i16x8.shr_u(v, 4), k15);
          a0 = i16x8.add(a0, i16x8.add(dotPairs(v128.load32_splat(xg), lo), dotPairs(v128.load32_splat(xg, 4), hi)));
          a1 = i16x8.add(a1, i16x8.add(dotPairs(v128.load32_splat(xg, 8), lo), dotPairs(v128.load32_splat(xg, 12), hi)));
          a2 = i16x8.add(a2, i16x8.add(dotPairs(v128.load32_splat(xg, 16), lo), dotPairs(v128.load32_splat(xg, 20), hi)));
          a3 = i16x8.add(a3, i16x8.add(dotPairs(v128.load32_splat(xg, 24), lo), dotPairs(v128.load32_splat(xg, 28), hi)));
          p += 16; xg += 32;
        }
      }
      // One scale conversion for the four activation rows.
      const sc = blockScales(type, w, j, exact), f = tmp + (j << 4), d = d0 + so, s = s0 + so;
      c0 = finishBlock(type, a0, sc, f, d, s, c0);
      c1 = finishBlock(type, a1, sc, f, d + sStride, s + sStride, c1);
      c2 = finishBlock(type, a2, sc, f, d + 2 * sStride, s + 2 * sStride, c2);
      c3 = finishBlock(type, a3, sc, f, d + 3 * sStride, s + 3 * sStride, c3);
      so += 4;
    }
    w += unitBytes(type, cnt);
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

// The kernels for a weight of layout Q4_0R4, Q8_0R4, Q4_KR4 or Q5_KR4. Activations: Q8_0 reads
// int16 pairs (x: row stride 2K, GEMM groups interleaved), the others int8 quants (x: row stride
// K; GEMM groups interleaved) and 8·Σx per block (xs); all read the scale per block (xd). `exact`:
// the weight has subnormal Q4_0 / Q8_0 scales (dot.ts scales4); `tmp`: the thread's scratch for
// the K-quants' unpacked scales (1 KiB). Each layout's kernel is a function of its own: with the
// four bodies inlined into one function, V8 compiled them ~10–15% slower (GEMM, bench/cpu.ts).
export function dotQuadOf(layout: i32, w: usize, x: usize, xd: usize, xs: usize, K: i32, exact: bool, tmp: usize): v128 {
  if (layout == Q80) return dotQuad80(w, x, xd, xs, K, exact, tmp);
  if (layout == Q4K) return dotQuad4K(w, x, xd, xs, K, exact, tmp);
  if (layout == Q5K) return dotQuad5K(w, x, xd, xs, K, exact, tmp);
  return dotQuad40(w, x, xd, xs, K, exact, tmp);
}
function dotQuad40(w: usize, x: usize, xd: usize, xs: usize, K: i32, exact: bool, tmp: usize): v128 { return dotQuad(Q40, w, x, xd, xs, K, exact, tmp); }
function dotQuad80(w: usize, x: usize, xd: usize, xs: usize, K: i32, exact: bool, tmp: usize): v128 { return dotQuad(Q80, w, x, xd, xs, K, exact, tmp); }
function dotQuad4K(w: usize, x: usize, xd: usize, xs: usize, K: i32, exact: bool, tmp: usize): v128 { return dotQuad(Q4K, w, x, xd, xs, K, exact, tmp); }
function dotQuad5K(w: usize, x: usize, xd: usize, xs: usize, K: i32, exact: bool, tmp: usize): v128 { return dotQuad(Q5K, w, x, xd, xs, K, exact, tmp); }

export function dotQuad4Of(layout: i32, w: usize, stride: usize, x: usize, xd: usize, xs: usize, K: i32, exact: bool, out: usize, ostride: usize, tmp: usize): void {
  if (layout == Q80) streams80(w, stride, x, xd, xs, K, exact, out, ostride, tmp);
  else if (layout == Q4K) streams4K(w, stride, x, xd, xs, K, exact, out, ostride, tmp);
  else if (layout == Q5K) streams5K(w, stride, x, xd, xs, K, exact, out, ostride, tmp);
  else streams40(w, stride, x, xd, xs, K, exact, out, ostride, tmp);
}
function streams40(w: usize, stride: usize, x: usize, xd: usize, xs: usize, K: i32, exact: bool, out: usize, ostride: usize, tmp: usize): void { dotQuad4(Q40, w, stride, x, xd, xs, K, exact, out, ostride, tmp); }
function streams80(w: usize, stride: usize, x: usize, xd: usize, xs: usize, K: i32, exact: bool, out: usize, ostride: usize, tmp: usize): void { dotQuad4(Q80, w, stride, x, xd, xs, K, exact, out, ostride, tmp); }
function streams4K(w: usize, stride: usize, x: usize, xd: usize, xs: usize, K: i32, exact: bool, out: usize, ostride: usize, tmp: usize): void { dotQuad4(Q4K, w, stride, x, xd, xs, K, exact, out, ostride, tmp); }
function streams5K(w: usize, stride: usize, x: usize, xd: usize, xs: usize, K: i32, exact: bool, out: usize, ostride: usize, tmp: usize): void { dotQuad4(Q5K, w, stride, x, xd, xs, K, exact, out, ostride, tmp); }

export function gemmQuad4Of(layout: i32, w: usize, xg: usize, d0: usize, s0: usize, sStride: usize, K: i32, exact: bool, out: usize, os: usize, nr: i32, tmp: usize): void {
  if (layout == Q80) gemm80(w, xg, d0, s0, sStride, K, exact, out, os, nr, tmp);
  else if (layout == Q4K) gemm4K(w, xg, d0, s0, sStride, K, exact, out, os, nr, tmp);
  else if (layout == Q5K) gemm5K(w, xg, d0, s0, sStride, K, exact, out, os, nr, tmp);
  else gemm40(w, xg, d0, s0, sStride, K, exact, out, os, nr, tmp);
}
function gemm40(w: usize, xg: usize, d0: usize, s0: usize, sStride: usize, K: i32, exact: bool, out: usize, os: usize, nr: i32, tmp: usize): void { gemmQuad4(Q40, w, xg, d0, s0, sStride, K, exact, out, os, nr, tmp); }
function gemm80(w: usize, xg: usize, d0: usize, s0: usize, sStride: usize, K: i32, exact: bool, out: usize, os: usize, nr: i32, tmp: usize): void { gemmQuad4(Q80, w, xg, d0, s0, sStride, K, exact, out, os, nr, tmp); }
function gemm4K(w: usize, xg: usize, d0: usize, s0: usize, sStride: usize, K: i32, exact: bool, out: usize, os: usize, nr: i32, tmp: usize): void { gemmQuad4(Q4K, w, xg, d0, s0, sStride, K, exact, out, os, nr, tmp); }
function gemm5K(w: usize, xg: usize, d0: usize, s0: usize, sStride: usize, K: i32, exact: bool, out: usize, os: usize, nr: i32, tmp: usize): void { gemmQuad4(Q5K, w, xg, d0, s0, sStride, K, exact, out, os, nr, tmp); }
