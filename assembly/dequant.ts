// Rows of weights decoded to float32: the embedding lookup, and the panels that the float
// GEMM and the slower path for the other block types run on. Block layouts and formulas follow
// ggml's dequantize_row_* (ggml-quants.c); type ids are ggml's.

import { f16, F16_RESCALE } from './simd';
import { C_F16MASK } from './dot';

/**
 * Multiplier that turns a float16 weight whose bits were shifted into float32 position back
 * into its value: 2^112, or 2^(112−s) for a tensor the host rescaled by 2^s at load time
 * (see f16Rescale in quantize.ts). Set by each op from its arguments.
 */
let weightF16Scale: f32 = F16_RESCALE;

export function setF16WeightScale(k: f32): void {
  weightF16Scale = k;
}

export function getF16WeightScale(): f32 {
  return weightF16Scale;
}

/** A float16 weight as float32 (with the tensor's rescaling undone). */
// @ts-ignore: decorator
@inline export function f16w(bits: u32): f32 {
  return reinterpret<f32>(((bits & 0x8000) << 16) | ((bits & 0x7fff) << 13)) * weightF16Scale;
}

export const F32: i32 = 0, F16: i32 = 1, Q4_0: i32 = 2, Q4_1: i32 = 3, Q5_0: i32 = 6, Q5_1: i32 = 7;
export const Q8_0: i32 = 8, Q4_K: i32 = 12, Q5_K: i32 = 13, Q6_K: i32 = 14, BF16: i32 = 30;
/** The repacked layouts of quantize.ts. */
export const Q4_0R4: i32 = 101, Q8_0R4: i32 = 102, Q4_KR4: i32 = 103, Q5_KR4: i32 = 104;

// @ts-ignore: decorator
@inline function h(p: usize): f32 {
  return f16(load<u16>(p));
}

function decodeQ4_0(s: usize, y: usize, nb: i32): void {
  for (let i = 0; i < nb; i++, s += 18, y += 128) {
    const d = h(s);
    for (let j = 0; j < 16; j++) {
      const q = <i32>load<u8>(s + 2 + j);
      store<f32>(y + (<usize>j << 2), <f32>((q & 15) - 8) * d);
      store<f32>(y + (<usize>(j + 16) << 2), <f32>((q >> 4) - 8) * d);
    }
  }
}

function decodeQ4_1(s: usize, y: usize, nb: i32): void {
  for (let i = 0; i < nb; i++, s += 20, y += 128) {
    const d = h(s), m = h(s + 2);
    for (let j = 0; j < 16; j++) {
      const q = <i32>load<u8>(s + 4 + j);
      store<f32>(y + (<usize>j << 2), <f32>(q & 15) * d + m);
      store<f32>(y + (<usize>(j + 16) << 2), <f32>(q >> 4) * d + m);
    }
  }
}

function decodeQ5(s: usize, y: usize, nb: i32, withMin: bool): void {
  const bs: usize = withMin ? 24 : 22;
  for (let i = 0; i < nb; i++, s += bs, y += 128) {
    const d = h(s), m: f32 = withMin ? h(s + 2) : 0;
    const o: usize = withMin ? 4 : 2;
    const qh = load<u32>(s + o);
    for (let j = 0; j < 16; j++) {
      const q = <i32>load<u8>(s + o + 4 + j);
      const x0 = (q & 15) | <i32>(((qh >> <u32>j) << 4) & 0x10);
      const x1 = (q >> 4) | <i32>((qh >> <u32>(j + 12)) & 0x10);
      if (withMin) {
        store<f32>(y + (<usize>j << 2), <f32>x0 * d + m);
        store<f32>(y + (<usize>(j + 16) << 2), <f32>x1 * d + m);
      } else {
        store<f32>(y + (<usize>j << 2), <f32>(x0 - 16) * d);
        store<f32>(y + (<usize>(j + 16) << 2), <f32>(x1 - 16) * d);
      }
    }
  }
}

function decodeQ8_0(s: usize, y: usize, nb: i32): void {
  for (let i = 0; i < nb; i++, s += 34, y += 128) {
    const d = h(s);
    for (let j = 0; j < 32; j++) store<f32>(y + (<usize>j << 2), <f32>load<i8>(s + 2 + j) * d);
  }
}

/** ggml's get_scale_min_k4: 6-bit scale and min `j` of a Q4_K / Q5_K super-block. */
// @ts-ignore: decorator
@inline export function scaleK4(q: usize, j: i32): i32 {
  if (j < 4) return load<u8>(q + j) & 63;
  return (load<u8>(q + j + 4) & 15) | ((load<u8>(q + j - 4) >> 6) << 4);
}

// @ts-ignore: decorator
@inline export function minK4(q: usize, j: i32): i32 {
  if (j < 4) return load<u8>(q + j + 4) & 63;
  return (load<u8>(q + j + 4) >> 4) | ((load<u8>(q + j) >> 6) << 4);
}

/** 16 signed bytes v as floats v·d − m (two roundings, as ggml's d1 * q - m1) at y. */
// @ts-ignore: decorator
@inline function storeAffine(y: usize, v: v128, d: v128, m: v128): void {
  const lo = i16x8.extend_low_i8x16_s(v), hi = i16x8.extend_high_i8x16_s(v);
  v128.store(y, f32x4.sub(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo)), d), m));
  v128.store(y, f32x4.sub(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo)), d), m), 16);
  v128.store(y, f32x4.sub(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi)), d), m), 32);
  v128.store(y, f32x4.sub(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi)), d), m), 48);
}

/** Q6_K (210 B per 256: ql[128], qh[64], scales[16] int8, d); 16 elements per scale. */
function decodeQ6K(s: usize, y: usize, nb: i32): void {
  const k15 = i8x16.splat(15), k30 = i8x16.splat(0x30), k32 = i8x16.splat(32), zero = f32x4.splat(0);
  for (let i = 0; i < nb; i++, s += 210) {
    const d = h(s + 208);
    for (let n = 0; n < 2; n++) {
      const ql = s + (<usize>n << 6), qh = s + 128 + (<usize>n << 5), sc = s + 192 + (<usize>n << 3);
      const o = y + (<usize>n << 9);
      for (let hh = 0; hh < 2; hh++) {
        const A = v128.load(ql + (<usize>hh << 4)), B = v128.load(ql + 32 + (<usize>hh << 4)), H = v128.load(qh + (<usize>hh << 4));
        const e = o + (<usize>hh << 6);
        storeAffine(e, i8x16.sub(v128.or(v128.and(A, k15), v128.and(i16x8.shl(H, 4), k30)), k32), f32x4.splat(d * <f32>load<i8>(sc + hh)), zero);
        storeAffine(e + 128, i8x16.sub(v128.or(v128.and(B, k15), v128.and(i16x8.shl(H, 2), k30)), k32), f32x4.splat(d * <f32>load<i8>(sc + hh + 2)), zero);
        storeAffine(e + 256, i8x16.sub(v128.or(v128.and(i16x8.shr_u(A, 4), k15), v128.and(H, k30)), k32), f32x4.splat(d * <f32>load<i8>(sc + hh + 4)), zero);
        storeAffine(e + 384, i8x16.sub(v128.or(v128.and(i16x8.shr_u(B, 4), k15), v128.and(i16x8.shr_u(H, 2), k30)), k32), f32x4.splat(d * <f32>load<i8>(sc + hh + 6)), zero);
      }
    }
    y += 1024;
  }
}

function decodeF16(s: usize, y: usize, K: i32): void {
  const mask = v128.load(C_F16MASK), k = f32x4.splat(weightF16Scale);
  let j = 0;
  for (; j + 8 <= K; j += 8) {
    const v = v128.load(s + (<usize>j << 1));
    v128.store(y + (<usize>j << 2), f32x4.mul(v128.and(i32x4.shl(i32x4.extend_low_i16x8_s(v), 13), mask), k));
    v128.store(y + (<usize>j << 2), f32x4.mul(v128.and(i32x4.shl(i32x4.extend_high_i16x8_s(v), 13), mask), k), 16);
  }
  for (; j < K; j++) store<f32>(y + (<usize>j << 2), f16w(load<u16>(s + (<usize>j << 1))));
}

function decodeBF16(s: usize, y: usize, K: i32): void {
  let j = 0;
  for (; j + 8 <= K; j += 8) {
    const v = v128.load(s + (<usize>j << 1));
    v128.store(y + (<usize>j << 2), i32x4.shl(i32x4.extend_low_i16x8_u(v), 16));
    v128.store(y + (<usize>j << 2), i32x4.shl(i32x4.extend_high_i16x8_u(v), 16), 16);
  }
  for (; j < K; j++) store<u32>(y + (<usize>j << 2), <u32>load<u16>(s + (<usize>j << 1)) << 16);
}

/** Row `r` (0..3) of a repacked Q8_0 (q8) or Q4_0 quad (layouts in quantize.ts). */
function decodeQuad(q8: bool, s: usize, r: i32, y: usize, K: i32): void {
  const nb = K >> 5, G = nb >> 2;
  const qb: usize = q8 ? 128 : 64;
  for (let g = 0; g <= G; g++) {
    const cnt = g < G ? 4 : nb & 3;
    if (cnt == 0) break;
    const q = s + (<usize>cnt << 3);
    for (let j = 0; j < cnt; j++) {
      const d = h(s + (<usize>j << 3) + (<usize>r << 1)), b = q + <usize>j * qb;
      if (q8) {
        // Chunk e/2, bytes 2r, 2r + 1: elements e, e + 1.
        for (let e = 0; e < 32; e++) store<f32>(y + (<usize>e << 2), <f32>load<i8>(b + (<usize>(e >> 1) << 3) + (<usize>r << 1) + <usize>(e & 1)) * d);
      } else {
        // Vector e/4, byte 4r + e%4: element e (lo nibble) and e + 16 (hi nibble).
        for (let e = 0; e < 16; e++) {
          const byte = load<u8>(b + (<usize>(e >> 2) << 4) + (<usize>r << 2) + <usize>(e & 3));
          store<f32>(y + (<usize>e << 2), <f32>(<i32>(byte & 15) - 8) * d);
          store<f32>(y + (<usize>(e + 16) << 2), <f32>(<i32>(byte >> 4) - 8) * d);
        }
      }
      y += 128;
    }
    s += <usize>cnt * (8 + qb);
  }
}

/**
 * Row `r` (0..3) of a repacked Q4_K or Q5_K (q5) quad (layouts in quantize.ts), as ggml's
 * dequantize_row_q4_K / _q5_K: per sub-block j, d·sc_j and dmin·m_j in float32, then
 * q·(d·sc_j) − dmin·m_j.
 */
function decodeKQuad(q5: bool, s: usize, r: i32, y: usize, nsb: i32): void {
  for (let i = 0; i < nsb; i++, s += q5 ? 704 : 576) {
    const d = h(s + (<usize>r << 1)), dmin = h(s + 8 + (<usize>r << 1));
    for (let j = 0; j < 8; j++) {
      const k = (j << 2) + r, lo = load<u8>(s + 16 + <usize>k), hb = load<u8>(s + 48 + <usize>(k & 15)) >> <u8>(k < 16 ? 0 : 2);
      const sc = <f32>((lo & 15) | ((hb & 3) << 4)), m = <f32>((lo >> 4) | (((hb >> 4) & 3) << 4));
      const d1 = d * sc, m1 = dmin * m;
      for (let e = 0; e < 16; e++) {
        const at = (<usize>(e >> 2) << 4) + (<usize>r << 2) + <usize>(e & 3);
        const byte = load<u8>(s + 64 + (<usize>j << 6) + at);
        const b5: u32 = q5 ? <u32>(load<u8>(s + 576 + (<usize>j << 4) + (<usize>r << 2) + <usize>(e & 3)) >> <u8>((e >> 2) << 1)) : 0;
        store<f32>(y + (<usize>e << 2), <f32>((byte & 15) | ((b5 & 1) << 4)) * d1 - m1);
        store<f32>(y + (<usize>(e + 16) << 2), <f32>((byte >> 4) | ((b5 & 2) << 3)) * d1 - m1);
      }
      y += 128;
    }
  }
}

/** Bytes of one row of `K` elements (a row quad for Q4_0R4, Q8_0R4 and Q4_KR4). */
export function rowBytes(type: i32, K: i32): usize {
  const k = <usize>K;
  switch (type) {
    case F32: return k << 2;
    case F16: case BF16: return k << 1;
    case Q4_0: return (k >> 5) * 18;
    case Q4_1: return (k >> 5) * 20;
    case Q5_0: return (k >> 5) * 22;
    case Q5_1: return (k >> 5) * 24;
    case Q8_0: return (k >> 5) * 34;
    case Q4_0R4: return (k >> 5) * 72;
    case Q8_0R4: return (k >> 5) * 136;
    case Q4_KR4: return (k >> 8) * 576;
    case Q5_KR4: return (k >> 8) * 704;
    case Q6_K: return (k >> 8) * 210;
    default: return 0;
  }
}

/** Decodes row `r` of a `type` weight starting at `w` into `K` floats at `y`. */
export function decodeRow(type: i32, w: usize, r: i32, y: usize, K: i32): void {
  const rb = rowBytes(type, K);
  if (type == Q4_0R4 || type == Q8_0R4) {
    decodeQuad(type == Q8_0R4, w + <usize>(r >> 2) * rb, r & 3, y, K);
    return;
  }
  if (type == Q4_KR4 || type == Q5_KR4) {
    decodeKQuad(type == Q5_KR4, w + <usize>(r >> 2) * rb, r & 3, y, K >> 8);
    return;
  }
  const s = w + <usize>r * rb;
  switch (type) {
    case F32: memory.copy(y, s, <usize>K << 2); break;
    case F16: decodeF16(s, y, K); break;
    case BF16: decodeBF16(s, y, K); break;
    case Q4_0: decodeQ4_0(s, y, K >> 5); break;
    case Q4_1: decodeQ4_1(s, y, K >> 5); break;
    case Q5_0: decodeQ5(s, y, K >> 5, false); break;
    case Q5_1: decodeQ5(s, y, K >> 5, true); break;
    case Q8_0: decodeQ8_0(s, y, K >> 5); break;
    case Q6_K: decodeQ6K(s, y, K >> 8); break;
    default: unreachable();
  }
}
