// Integer dot products of repacked Q4_K row quads (layout in quantize.ts) with Q8_0-quantized
// activations: one activation row against a quad (dotQ4KQuad), four quads as four streams
// (dotQ4KQuad4, decode), a group of four activation rows per pass over a quad (gemmQ4KQuad4).
// Formula: ggml's dequantize_row_q4_K folded into the dot product, per 32-element sub-block j
// (which is one activation block b): d·sc_j·Σq·x − dmin·m_j·Σx, times the activation scale d_x.
// The sub-block's Σq·x is Q4_0's inner loop (quad.ts: the same vector layout, unsigned nibbles
// against int8 activations, i16 pair sums); the lanes are the quad's four rows. Per superblock
// the four rows' 8 scales and 8 mins unpack with a few vector ops into float32 d·sc_j and
// dmin·m_j/8 (8·Σx is what quantizeRows stores), kept in the thread's scratch (256 bytes per
// quad) while the superblock's sub-blocks run.

import { fma, fnma } from './simd';
import { halfToFloat4, C_NIBBLE } from './dot';
import { keep, touch } from './ahead';
import { dotPairs, nibbles, storeQuad } from './quad';

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
@inline function unpackScales(p: usize, t: usize): void {
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

/** acc + d_x·(cvt(S)·D_j − cvt(8·Σx)·M_j) for the sub-block whose factors are at f. */
// @ts-ignore: decorator
@inline function finish(a: v128, f: usize, xs: usize, xd: usize, acc: v128): v128 {
  const t = fnma(f32x4.convert_i32x4_s(v128.load32_splat(xs)), v128.load(f, 128),
    f32x4.mul(f32x4.convert_i32x4_s(i32x4.extadd_pairwise_i16x8_s(a)), v128.load(f)));
  return fma(t, v128.load32_splat(xd), acc);
}

/** Touches the superblock's 576 bytes at p, AHEAD bytes on (ahead.ts). */
// @ts-ignore: decorator
@inline function touchSb(p: usize): i32 {
  let s = 0;
  for (let o: usize = 0; o < 576; o += 64) s += touch(p + o);
  return s;
}

/**
 * A Q4_K quad · one activation row (int8 quants at xq, per block scale xd and 8·Σx xs); `tmp`:
 * 256 bytes of scratch. The four rows' results as f32x4.
 */
export function dotQ4KQuad(w: usize, xq: usize, xd: usize, xs: usize, K: i32, tmp: usize): v128 {
  const nsb = K >> 8, k15 = v128.load(C_NIBBLE);
  let acc = f32x4.splat(0);
  let tk: i32 = 0;
  for (let sb = 0; sb < nsb; sb++) {
    tk += touchSb(w);
    unpackScales(w, tmp);
    let p = w + 64;
    for (let j: usize = 0; j < 8; j++) {
      let a = i16x8.splat(0);
      for (let i = 0; i < 4; i++) {
        a = nibbles(v128.load(p), k15, v128.load32_splat(xq), v128.load32_splat(xq, 16), a);
        p += 16; xq += 4;
      }
      acc = finish(a, tmp + (j << 4), xs, xd, acc);
      xq += 16; xd += 4; xs += 4;
    }
    w += 576;
  }
  keep(tk);
  return acc;
}

/**
 * dotQ4KQuad of the four quads at w, w + stride, w + 2·stride, w + 3·stride at once (four
 * streams sharing every activation load, see dotQuad4 in quad.ts), stored to out, out + ostride,
 * …; `tmp`: 1 KiB of scratch.
 */
export function dotQ4KQuad4(w: usize, stride: usize, xq: usize, xd: usize, xs: usize, K: i32, out: usize, ostride: usize, tmp: usize): void {
  const nsb = K >> 8, k15 = v128.load(C_NIBBLE);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let tk: i32 = 0;
  const s1 = stride, s2 = stride << 1, s3 = s1 + s2;
  for (let sb = 0; sb < nsb; sb++) {
    tk += touchSb(w) + touchSb(w + s1) + touchSb(w + s2) + touchSb(w + s3);
    unpackScales(w, tmp);
    unpackScales(w + s1, tmp + 256);
    unpackScales(w + s2, tmp + 512);
    unpackScales(w + s3, tmp + 768);
    let p = w + 64;
    for (let j: usize = 0; j < 8; j++) {
      let b0 = i16x8.splat(0), b1 = i16x8.splat(0), b2 = i16x8.splat(0), b3 = i16x8.splat(0);
      for (let i = 0; i < 4; i++) {
        const xl = v128.load32_splat(xq), xh = v128.load32_splat(xq, 16);
        b0 = nibbles(v128.load(p), k15, xl, xh, b0);
        b1 = nibbles(v128.load(p + s1), k15, xl, xh, b1);
        b2 = nibbles(v128.load(p + s2), k15, xl, xh, b2);
        b3 = nibbles(v128.load(p + s3), k15, xl, xh, b3);
        p += 16; xq += 4;
      }
      const f = tmp + (j << 4);
      a0 = finish(b0, f, xs, xd, a0);
      a1 = finish(b1, f + 256, xs, xd, a1);
      a2 = finish(b2, f + 512, xs, xd, a2);
      a3 = finish(b3, f + 768, xs, xd, a3);
      xq += 16; xd += 4; xs += 4;
    }
    w += 576;
  }
  keep(tk);
  v128.store(out, a0);
  v128.store(out + ostride, a1);
  v128.store(out + 2 * ostride, a2);
  v128.store(out + 3 * ostride, a3);
}

/**
 * dotQ4KQuad for a group of four activation rows at once, interleaved at xg as for Q4_0 (see
 * gemmQuad4 in quad.ts), scales and 8·Σx of row t at d0 / s0 + t·sStride; `tmp`: 256 bytes of
 * scratch. Row t's four results go to out + t·os (`nr` of them, nr ≤ 4).
 */
export function gemmQ4KQuad4(w: usize, xg: usize, d0: usize, s0: usize, sStride: usize, K: i32, out: usize, os: usize, nr: i32, tmp: usize): void {
  const nsb = K >> 8, k15 = v128.load(C_NIBBLE);
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  let so: usize = 0;
  for (let sb = 0; sb < nsb; sb++) {
    unpackScales(w, tmp);
    let p = w + 64;
    for (let j: usize = 0; j < 8; j++) {
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
      const f = tmp + (j << 4);
      c0 = finish(a0, f, s0 + so, d0 + so, c0);
      c1 = finish(a1, f, s0 + so + sStride, d0 + so + sStride, c1);
      c2 = finish(a2, f, s0 + so + 2 * sStride, d0 + so + 2 * sStride, c2);
      c3 = finish(a3, f, s0 + so + 3 * sStride, d0 + so + 3 * sStride, c3);
      so += 4;
    }
    w += 576;
  }
  storeQuad(out, c0, nr);
  storeQuad(out + os, c1, nr);
  storeQuad(out + 2 * os, c2, nr);
  storeQuad(out + 3 * os, c3, nr);
}
