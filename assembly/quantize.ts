// Activation quantization and the load-time repacking of Q8_0 / Q4_0 weights.
//
// Activations are quantized per row to Q8_0 blocks as llama.cpp does for these weight types
// (ggml quantize_row_q8_0: d = max|x| / 127, q = round(x / d)), except that d stays float32
// (llama.cpp rounds it to float16) and lives apart from the quants: per row `K` int8 quants,
// `K/32` float32 scales, `K/32` int32 sums 8·Σq that Q4_0's unsigned-nibble dot products
// subtract (see quad.ts), `K/16` int32 sums Σq per 16 for Q6_K's offset (kquant.ts), and, when
// asked (`wide` ≠ 0, for Q8_0 weights: quad.ts), the same quants as int16 pairs: rows in whole
// groups of four interleaved (pair c of the group's row t at 16c + 4t, the group where its first
// row would be), the remaining n mod 4 rows one after another (pair c at 4c); and when asked
// (`inter` ≠ 0, for Q4_0 / Q4_K / Q5_K weights) the int8 quants of rows in whole groups of four
// interleaved for gemmQuad4 (quad.ts; the other rows are read from qs).

import { grab, barrier } from './sync';
import { scaleK4, minK4, Q4_KR4, Q5_KR4, Q8_0R4 } from './dequant';

/** The four int16 pairs of v at p, p + 16, p + 32, p + 48. */
// @ts-ignore: decorator
@inline function storePairs(p: usize, v: v128): void {
  store<u32>(p, i32x4.extract_lane(v, 0));
  store<u32>(p, i32x4.extract_lane(v, 1), 16);
  store<u32>(p, i32x4.extract_lane(v, 2), 32);
  store<u32>(p, i32x4.extract_lane(v, 3), 48);
}

/** Quantizes `n` rows of `K` floats (row stride `xs` floats) into qs / d / sum8 / sum16 (row strides K, K/32, K/32, K/16). */
export function quantizeRows(tid: i32, nt: i32, x: usize, xs: i32, n: i32, K: i32, qs: usize, d: usize, sum8: usize, sum16: usize, wide: usize, inter: usize, counter: i32): void {
  const nb = K >> 5;
  const total = n * nb;
  const CH = 64;
  for (let c = grab(counter); c * CH < total; c = grab(counter)) {
    const end = min(total, (c + 1) * CH);
    for (let i = c * CH; i < end; i++) {
      const r = i / nb, b = i - r * nb;
      const src = x + ((<usize>r * <usize>xs + (<usize>b << 5)) << 2);
      let v0 = v128.load(src), v1 = v128.load(src, 16), v2 = v128.load(src, 32), v3 = v128.load(src, 48);
      let v4 = v128.load(src, 64), v5 = v128.load(src, 80), v6 = v128.load(src, 96), v7 = v128.load(src, 112);
      let m = f32x4.max(f32x4.max(f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), f32x4.max(f32x4.abs(v2), f32x4.abs(v3))),
        f32x4.max(f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), f32x4.max(f32x4.abs(v6), f32x4.abs(v7))));
      m = f32x4.max(m, f32x4.shuffle(m, m, 2, 3, 0, 1));
      const amax = max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1));
      const dd: f32 = amax / 127;
      const id = f32x4.splat(amax > 0 ? <f32>127 / amax : 0);
      // Round half to even, as llama.cpp's SIMD quantizers (_mm256_round_ps, vcvtnq) do.
      const q0 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v0, id)));
      const q1 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v1, id)));
      const q2 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v2, id)));
      const q3 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v3, id)));
      const q4 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v4, id)));
      const q5 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v5, id)));
      const q6 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v6, id)));
      const q7 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v7, id)));
      const dst = qs + <usize>r * <usize>K + (<usize>b << 5);
      const w0 = i16x8.narrow_i32x4_s(q0, q1), w1 = i16x8.narrow_i32x4_s(q2, q3);
      const w2 = i16x8.narrow_i32x4_s(q4, q5), w3 = i16x8.narrow_i32x4_s(q6, q7);
      const lo = i8x16.narrow_i16x8_s(w0, w1), hi = i8x16.narrow_i16x8_s(w2, w3);
      v128.store(dst, lo);
      v128.store(dst, hi, 16);
      if (inter && r < (n & ~3)) {
        // The nibble quads' copy (Q4_0, Q4_K, Q5_K), rows in whole groups of four: per block
        // 4 × 32 bytes, vector i holding row t's elements 4i..4i+3 at 8t and 4i+16..4i+19 at
        // 8t + 4 (quad.ts gemmQuad4).
        const ip = inter + <usize>(r & ~3) * <usize>K + (<usize>b << 7) + (<usize>(r & 3) << 3);
        const a = i32x4.shuffle(lo, hi, 0, 4, 1, 5), c = i32x4.shuffle(lo, hi, 2, 6, 3, 7);
        v128.store64_lane(ip, a, 0);
        v128.store64_lane(ip, a, 1, 32);
        v128.store64_lane(ip, c, 0, 64);
        v128.store64_lane(ip, c, 1, 96);
      }
      if (wide) {
        if (r < (n & ~3)) {
          // Rows in whole groups of four: pairs interleaved, pair c of row t at 16c + 4t from the group's start.
          const wd = wide + ((<usize>(r & ~3) * <usize>K) << 1) + (<usize>b << 8) + (<usize>(r & 3) << 2);
          storePairs(wd, w0); storePairs(wd + 64, w1); storePairs(wd + 128, w2); storePairs(wd + 192, w3);
        } else {
          const wd = wide + ((<usize>r * <usize>K + (<usize>b << 5)) << 1);
          v128.store(wd, w0); v128.store(wd, w1, 16); v128.store(wd, w2, 32); v128.store(wd, w3, 48);
        }
      }
      let h0 = i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3)), h1 = i32x4.add(i32x4.add(q4, q5), i32x4.add(q6, q7));
      h0 = i32x4.add(h0, i32x4.shuffle(h0, h0, 2, 3, 0, 1));
      h1 = i32x4.add(h1, i32x4.shuffle(h1, h1, 2, 3, 0, 1));
      const s0 = i32x4.extract_lane(h0, 0) + i32x4.extract_lane(h0, 1), s1 = i32x4.extract_lane(h1, 0) + i32x4.extract_lane(h1, 1);
      const bi = (<usize>r * <usize>nb + <usize>b) << 2;
      store<f32>(d + bi, dd);
      store<i32>(sum8 + bi, (s0 + s1) << 3);
      store<i32>(sum16 + (bi << 1), s0);
      store<i32>(sum16 + (bi << 1), s1, 4);
    }
  }
}

/*
 * Repacked layouts (same byte size as GGUF's), per quad of rows r = 0..3 (the row count is
 * padded to a multiple of 4 with zero rows), in groups of 4 blocks, then the t = K/32 mod 4
 * tail blocks the same way:
 * - Q8_0: [scales: block j, row r at 8j + 2r (32 B)][quants: block j, chunk c = 0..15 at
 *   32 + 128j + 8c, whose bytes 2r, 2r + 1 are row r's quants 2c, 2c + 1] (544 B; the tail:
 *   scales 8t B, then t × 128 B). A chunk sign-extends to an i16x8 of 4 rows × 2 elements: one
 *   int16 multiply-add against the activation's 2 elements (splat) serves four rows (quad.ts).
 * - Q4_0: [scales as above (32 B)][quants: block j, vector i = 0..3 at 32 + 64j + 16i, whose
 *   bytes 4r..4r+3 are row r's quant bytes 4i..4i+3] (288 B; the tail: 8t B, then t × 64 B).
 *   A vector's lo nibbles are elements 4i..4i+3 of the four rows, its hi nibbles the elements
 *   16 further: one multiply-add against 4 activation bytes (splat) serves four rows (quad.ts).
 * - Q4_K, per superblock of 256 (576 B, as 4 GGUF rows): [d of rows 0..3 (8 B)][dmin of rows
 *   0..3 (8 B)][the 64 six-bit scales and mins, value k = 4j + r being sub-block j, row r: low
 *   4 bits of scale k and of min k in byte k's lo / hi nibble (32 B); high 2 bits in byte k mod
 *   16 at bits 0–1 (scale) and 4–5 (min) for k < 16, bits 2–3 and 6–7 for k ≥ 16 (16 B)]
 *   [quants: sub-block j, vector i = 0..3 at 64 + 64j + 16i, Q4_0's vector layout (row r's
 *   elements 4i..4i+3 of the sub-block in the lo nibbles of bytes 4r..4r+3, the 4 elements 16
 *   further in the hi nibbles) (512 B)]. A few vector ops unpack the four rows' 16 scales and
 *   mins per superblock (kquad.ts).
 * - Q5_K: Q4_K's 576 bytes (the low 4 bits of each value in the nibbles), then the fifth bits
 *   (128 B, 704 B in all = 4 GGUF rows): sub-block j at 576 + 16j, whose byte 4r + e holds, in
 *   bits 2i and 2i + 1, the fifth bits of the lo and hi nibble at byte 4r + e of vector i.
 * Four scales convert to float32 in one vector op, each quad streams sequentially (the
 * prefetcher's favourite), and every activation load serves four rows.
 */
// @ts-ignore: decorator
@inline function subnormal(h: u16): bool {
  return (h & 0x7c00) == 0 && (h & 0x3ff) != 0;
}

/**
 * Packs GGUF rows r0..r3 (0 for a zero row past the end) of type Q8_0 (q8) or Q4_0 into one quad
 * at `dst`; returns whether any scale is a float16 subnormal.
 */
export function repackQuad(q8: bool, r0: usize, r1: usize, r2: usize, r3: usize, dst: usize, K: i32): bool {
  const nb = K >> 5, G = nb >> 2;
  // Block bytes in GGUF, quant bytes of a repacked block, bytes of a group of 4.
  const bb: usize = q8 ? 34 : 18, qb: usize = q8 ? 128 : 64, gb: usize = q8 ? 544 : 288;
  let sub = false;
  for (let g = 0; g <= G; g++) {
    const cnt = g < G ? 4 : nb & 3;
    if (cnt == 0) break;
    const o = dst + <usize>g * gb, q = o + (<usize>cnt << 3);
    for (let j = 0; j < cnt; j++) {
      const b = <usize>((g << 2) + j) * bb;
      for (let r = 0; r < 4; r++) {
        const src = r == 0 ? r0 : r == 1 ? r1 : r == 2 ? r2 : r3;
        const d: u16 = src ? load<u16>(src + b) : 0;
        sub |= subnormal(d);
        store<u16>(o + (<usize>j << 3) + (<usize>r << 1), d);
        const qj = q + <usize>j * qb;
        if (q8) {
          // Chunk c, bytes 2r, 2r + 1: the row's quants 2c, 2c + 1.
          for (let c = 0; c < 16; c++) store<u16>(qj + (<usize>c << 3) + (<usize>r << 1), src ? load<u16>(src + b + 2 + (<usize>c << 1)) : 0);
        } else {
          // Vector i, bytes 4r..4r+3: the row's quant bytes 4i..4i+3.
          for (let i = 0; i < 4; i++) store<u32>(qj + (<usize>i << 4) + (<usize>r << 2), src ? load<u32>(src + b + 2 + (<usize>i << 2)) : 0);
        }
      }
    }
  }
  return sub;
}

/**
 * Packs GGUF Q4_K (q5 false) or Q5_K rows r0..r3 (0 for a zero row past the end) into one quad
 * at `dst`.
 */
export function repackKQuad(q5: bool, r0: usize, r1: usize, r2: usize, r3: usize, dst: usize, K: i32): void {
  const nsb = K >> 8;
  // GGUF superblock bytes, offset of qs in it; repacked superblock bytes.
  const bb: usize = q5 ? 176 : 144, qo: usize = q5 ? 48 : 16, ob: usize = q5 ? 704 : 576;
  for (let sb = 0; sb < nsb; sb++) {
    const o = dst + <usize>sb * ob, b = <usize>sb * bb;
    memory.fill(o + 48, 0, 16);
    if (q5) memory.fill(o + 576, 0, 128);
    for (let r = 0; r < 4; r++) {
      const src = r == 0 ? r0 : r == 1 ? r1 : r == 2 ? r2 : r3;
      store<u16>(o + (<usize>r << 1), src ? load<u16>(src + b) : 0);
      store<u16>(o + 8 + (<usize>r << 1), src ? load<u16>(src + b + 2) : 0);
      for (let j = 0; j < 8; j++) {
        const sc = src ? scaleK4(src + b + 4, j) : 0, m = src ? minK4(src + b + 4, j) : 0;
        const k = (j << 2) + r, sh = k < 16 ? 0 : 2;
        store<u8>(o + 16 + <usize>k, <u8>((sc & 15) | ((m & 15) << 4)));
        const hb = o + 48 + <usize>(k & 15);
        store<u8>(hb, load<u8>(hb) | <u8>(((sc >> 4) << sh) | ((m >> 4) << (sh + 4))));
        // Sub-block j: the lo (j even) or hi nibbles of qs bytes 32·(j/2) + 0..31; Q5_K's fifth
        // bits are bit j of qh[0..31].
        const qs = src + b + qo + (<usize>(j >> 1) << 5), shift = (j & 1) << 2;
        for (let i = 0; i < 4; i++) {
          for (let e = 0; e < 4; e++) {
            const e0 = <usize>((i << 2) + e), at = (<usize>i << 4) + (<usize>r << 2) + <usize>e;
            const lo = src ? (load<u8>(qs + e0) >> <u8>shift) & 15 : 0, hi = src ? (load<u8>(qs + e0 + 16) >> <u8>shift) & 15 : 0;
            store<u8>(o + 64 + (<usize>j << 6) + at, <u8>(lo | (hi << 4)));
            if (q5 && src) {
              const b5 = ((load<u8>(src + b + 16 + e0) >> <u8>j) & 1) | (((load<u8>(src + b + 16 + e0 + 16) >> <u8>j) & 1) << 1);
              const hp = o + 576 + (<usize>j << 4) + (<usize>r << 2) + <usize>e;
              store<u8>(hp, load<u8>(hp) | <u8>(<i32>b5 << (i << 1)));
            }
          }
        }
      }
    }
  }
}

/** Where repack and f16MaxBits leave their result (in the control area, sync.ts). */
const RESULT: usize = 240;

/**
 * Repacks `rows` GGUF rows at `src` into quads at `dst` of `layout` (Q4_0R4, Q8_0R4, Q4_KR4,
 * Q5_KR4: dequant.ts), quads shared out by chunks; sets RESULT (which the host zeroes first) to 1 if any Q8_0 /
 * Q4_0 scale is a float16 subnormal (the K-quant kernels always convert exactly).
 */
export function repack(tid: i32, nt: i32, layout: i32, src: usize, dst: usize, rows: i32, K: i32): void {
  const q8 = layout == Q8_0R4, kq = layout == Q4_KR4 || layout == Q5_KR4;
  const rb = kq ? <usize>(K >> 8) * (layout == Q5_KR4 ? 176 : 144) : <usize>(K >> 5) * (q8 ? 34 : 18);
  const quads = (rows + 3) >> 2;
  let sub = false;
  for (let p = grab(0); p < quads; p = grab(0)) {
    const r = p << 2;
    const a = src + <usize>r * rb, b = r + 1 < rows ? a + rb : 0, c = r + 2 < rows ? a + 2 * rb : 0, d = r + 3 < rows ? a + 3 * rb : 0;
    if (kq) repackKQuad(layout == Q5_KR4, a, b, c, d, dst + <usize>p * 4 * rb, K);
    else sub |= repackQuad(q8, a, b, c, d, dst + <usize>p * 4 * rb, K);
  }
  if (sub) atomic.store<i32>(RESULT, 1);
  barrier(nt);
}

/**
 * Largest |value| bits (sign cleared) over `count` float16 values at `p`; threads combine their
 * maxima at RESULT, which the host zeroes first. For finite float16, larger bits mean larger |x|.
 */
export function f16MaxBits(tid: i32, nt: i32, p: usize, count: i32): void {
  const CH = 1 << 16;
  let m = i16x8.splat(0);
  const mask = i16x8.splat(0x7fff);
  for (let c = grab(0); c * CH < count; c = grab(0)) {
    const end = min(count, (c + 1) * CH);
    let i = c * CH;
    for (; i + 8 <= end; i += 8) m = i16x8.max_u(m, v128.and(v128.load(p + (<usize>i << 1)), mask));
    for (; i < end; i++) m = i16x8.max_u(m, i16x8.splat(<i16>(load<u16>(p + (<usize>i << 1)) & 0x7fff)));
  }
  m = i16x8.max_u(m, i16x8.shuffle(m, m, 4, 5, 6, 7, 0, 1, 2, 3));
  m = i16x8.max_u(m, i16x8.shuffle(m, m, 2, 3, 0, 1, 2, 3, 0, 1));
  m = i16x8.max_u(m, i16x8.shuffle(m, m, 1, 0, 1, 0, 1, 0, 1, 0));
  const best = <i32>i16x8.extract_lane_u(m, 0);
  for (let old = atomic.load<i32>(RESULT); best > old; old = atomic.load<i32>(RESULT)) {
    if (atomic.cmpxchg<i32>(RESULT, old, best) == old) break;
  }
  barrier(nt);
}

/** One float16 (bits) times 2^s, exactly (no overflow: the host chose s from the maximum). */
function scaleF16(h: u32, s: u32): u32 {
  const sign = h & 0x8000, e = (h >> 10) & 31, m = h & 0x3ff;
  if (e != 0) return sign | (h & 0x7fff) + (s << 10);
  if (m == 0) return h;
  // Subnormal m·2^−24: normalise while the exponent allows.
  let mm = m, ee: u32 = 1, left = s;
  while (left > 0 && (mm & 0x400) == 0) { mm <<= 1; left--; }
  if ((mm & 0x400) == 0) return sign | mm;
  return sign | ((ee + left) << 10) | (mm & 0x3ff);
}

/**
 * Multiplies `count` float16 values at `p` by 2^s in place. Float16 subnormals become normal,
 * so the kernels' shift-and-multiply conversion never feeds a float32 subnormal to the FPU
 * (x86 takes a ~150-cycle microcode assist for each); the kernels multiply by 2^(112−s).
 */
export function f16Rescale(tid: i32, nt: i32, p: usize, count: i32, s: i32): void {
  const CH = 1 << 16;
  const add = i16x8.splat(<i16>(s << 10)), expMask = i16x8.splat(0x7c00);
  for (let c = grab(0); c * CH < count; c = grab(0)) {
    const end = min(count, (c + 1) * CH);
    let i = c * CH;
    for (; i + 8 <= end; i += 8) {
      const a = p + (<usize>i << 1);
      const v = v128.load(a);
      if (!v128.any_true(i16x8.eq(v128.and(v, expMask), i16x8.splat(0)))) {
        v128.store(a, i16x8.add(v, add));
      } else {
        for (let j = 0; j < 8; j++) store<u16>(a + (<usize>j << 1), <u16>scaleF16(load<u16>(a + (<usize>j << 1)), s));
      }
    }
    for (; i < end; i++) store<u16>(p + (<usize>i << 1), <u16>scaleF16(load<u16>(p + (<usize>i << 1)), s));
  }
  barrier(nt);
}
