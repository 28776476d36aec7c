// Integer dot products of repacked Q8_0 row quads (layout in quantize.ts) with Q8_0-quantized
// activations widened to int16: one activation row against a quad's four rows (dotQ8Quad),
// four quads as four streams (dotQ8Quad4, decode), and four activation rows per pass over a
// quad (gemmQ8Quad4, prompts and batches). Block formula: ggml_vec_dot_q8_0_q8_0, Σ w·x per 32
// in int32, scaled by d_w·d_x in float32.
//
// Why int16 and not the int8 multiply-add Q4_0 uses: that one (i16x8.relaxed_dot_i8x16_i7x16_s,
// x86 pmaddubsw) needs one operand in 0..127, which Q8_0's signed weights are not; moving the
// weight's sign onto the activation costs three instructions per vector and its pair sums
// (up to 2·127·127) allow no second accumulation in int16. Here each 8 weight bytes are
// sign-extended once (i16x8, 4 rows × 2 elements) and one i32x4.dot_i16x8_s (pmaddwd, baseline
// SIMD) against the activation's matching 2 elements (an int16 splat) adds 2 products to each of
// the four rows' int32 sums: 2 instructions per 8 multiply-adds, with the sign-extension shared
// by every activation row of a GEMM and every activation load shared by the four streams of a
// matvec. A block's sums stay below 32·127·127 < 2^31.

import { fma } from './simd';
import { scales4, C_F16MASK, C_F16SCALE } from './dot';
import { keep, touch } from './ahead';
import { storeQuad } from './q4';

/**
 * A repacked Q8_0 row quad · one activation row (int16 quants at xw, pairs 4 bytes apart;
 * float32 scales per block at xd): the four rows' results as f32x4.
 */
export function dotQ8Quad(w: usize, xw: usize, xd: usize, K: i32, exact: bool): v128 {
  const nb = K >> 5, G = nb >> 2;
  const mask = v128.load(C_F16MASK), rescale = v128.load(C_F16SCALE);
  let acc = f32x4.splat(0);
  let tk: i32 = 0;
  for (let g = 0; g <= G; g++) {
    const cnt = <usize>(g < G ? 4 : nb & 3);
    if (cnt == 0) break;
    // 544 bytes per group of 4 blocks.
    for (let t: usize = 0; t < 544; t += 64) tk += touch(w + t);
    let p = w + (cnt << 3);
    for (let j: usize = 0; j < cnt; j++) {
      // Two chains for the adder's latency, one pair of chunks per iteration.
      let a = i32x4.splat(0), b = i32x4.splat(0);
      for (let k = 0; k < 8; k++) {
        a = i32x4.add(a, i32x4.dot_i16x8_s(v128.load8x8_s(p), v128.load32_splat(xw)));
        b = i32x4.add(b, i32x4.dot_i16x8_s(v128.load8x8_s(p, 8), v128.load32_splat(xw, 4)));
        p += 16; xw += 8;
      }
      acc = fma(f32x4.convert_i32x4_s(i32x4.add(a, b)), f32x4.mul(scales4(w + (j << 3), exact, mask, rescale), v128.load32_splat(xd)), acc);
      xd += 4;
    }
    w += cnt * 136;
  }
  keep(tk);
  return acc;
}

/**
 * dotQ8Quad of the four quads at w, w + stride, w + 2·stride, w + 3·stride at once, stored to
 * out, out + ostride, … Four independent streams keep more cache misses in flight than one: with
 * 4 KiB pages the hardware prefetcher restarts at every page, and one stream with a dot
 * product's worth of instructions per line leaves the memory system idle part of the time
 * (~+30% bandwidth on the 2B shapes, 2 threads, bench/cpu.ts). The streams share every
 * activation load.
 */
export function dotQ8Quad4(w: usize, stride: usize, xw: usize, xd: usize, K: i32, exact: bool, out: usize, ostride: usize): void {
  const nb = K >> 5, G = nb >> 2;
  const mask = v128.load(C_F16MASK), rescale = v128.load(C_F16SCALE);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let tk: i32 = 0;
  const s1 = stride, s2 = stride << 1, s3 = s1 + s2;
  for (let g = 0; g <= G; g++) {
    const cnt = <usize>(g < G ? 4 : nb & 3);
    if (cnt == 0) break;
    for (let t: usize = 0; t < 544; t += 64) tk += touch(w + t) + touch(w + s1 + t) + touch(w + s2 + t) + touch(w + s3 + t);
    let p = w + (cnt << 3);
    for (let j: usize = 0; j < cnt; j++) {
      let b0 = i32x4.splat(0), b1 = i32x4.splat(0), b2 = i32x4.splat(0), b3 = i32x4.splat(0);
      // One chunk per iteration: unrolled, V8 hoists every load and spills.
      for (let k = 0; k < 16; k++) {
        const x = v128.load32_splat(xw);
        b0 = i32x4.add(b0, i32x4.dot_i16x8_s(v128.load8x8_s(p), x));
        b1 = i32x4.add(b1, i32x4.dot_i16x8_s(v128.load8x8_s(p + s1), x));
        b2 = i32x4.add(b2, i32x4.dot_i16x8_s(v128.load8x8_s(p + s2), x));
        b3 = i32x4.add(b3, i32x4.dot_i16x8_s(v128.load8x8_s(p + s3), x));
        p += 8; xw += 4;
      }
      const dx = v128.load32_splat(xd), sj = w + (j << 3);
      a0 = fma(f32x4.convert_i32x4_s(b0), f32x4.mul(scales4(sj, exact, mask, rescale), dx), a0);
      a1 = fma(f32x4.convert_i32x4_s(b1), f32x4.mul(scales4(sj + s1, exact, mask, rescale), dx), a1);
      a2 = fma(f32x4.convert_i32x4_s(b2), f32x4.mul(scales4(sj + s2, exact, mask, rescale), dx), a2);
      a3 = fma(f32x4.convert_i32x4_s(b3), f32x4.mul(scales4(sj + s3, exact, mask, rescale), dx), a3);
      xd += 4;
    }
    w += cnt * 136;
  }
  keep(tk);
  v128.store(out, a0);
  v128.store(out + ostride, a1);
  v128.store(out + 2 * ostride, a2);
  v128.store(out + 3 * ostride, a3);
}

/**
 * dotQ8Quad for a group of four activation rows at once, their int16 pairs interleaved (at xg:
 * pair c of row t at 16c + 4t; see quantizeRows), scales at d0 + t·dStride: each weight chunk is
 * sign-extended once for all four. Row t's four results go to out + t·os (`nr` of them, nr ≤ 4).
 */
export function gemmQ8Quad4(w: usize, xg: usize, d0: usize, dStride: usize, K: i32, exact: bool, out: usize, os: usize, nr: i32): void {
  const nb = K >> 5, G = nb >> 2;
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  let d = d0;
  for (let g = 0; g <= G; g++) {
    const cnt = <usize>(g < G ? 4 : nb & 3);
    if (cnt == 0) break;
    let p = w + (cnt << 3);
    for (let j: usize = 0; j < cnt; j++) {
      let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
      for (let k = 0; k < 16; k++) {
        const v = v128.load8x8_s(p);
        s0 = i32x4.add(s0, i32x4.dot_i16x8_s(v, v128.load32_splat(xg)));
        s1 = i32x4.add(s1, i32x4.dot_i16x8_s(v, v128.load32_splat(xg, 4)));
        s2 = i32x4.add(s2, i32x4.dot_i16x8_s(v, v128.load32_splat(xg, 8)));
        s3 = i32x4.add(s3, i32x4.dot_i16x8_s(v, v128.load32_splat(xg, 12)));
        p += 8; xg += 16;
      }
      const sc = scales4(w + (j << 3), exact, v128.load(C_F16MASK), v128.load(C_F16SCALE));
      c0 = fma(f32x4.convert_i32x4_s(s0), f32x4.mul(sc, v128.load32_splat(d)), c0);
      c1 = fma(f32x4.convert_i32x4_s(s1), f32x4.mul(sc, v128.load32_splat(d + dStride)), c1);
      c2 = fma(f32x4.convert_i32x4_s(s2), f32x4.mul(sc, v128.load32_splat(d + 2 * dStride)), c2);
      c3 = fma(f32x4.convert_i32x4_s(s3), f32x4.mul(sc, v128.load32_splat(d + 3 * dStride)), c3);
      d += 4;
    }
    w += cnt * 136;
  }
  storeQuad(out, c0, nr);
  storeQuad(out + os, c1, nr);
  storeQuad(out + 2 * os, c2, nr);
  storeQuad(out + 3 * os, c3, nr);
}
