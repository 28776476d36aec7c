// Float weight rows (F32, F16, BF16) · one float32 activation row: the matvecs of the float
// path (matmul.ts). F16 converts to float32 by a shift into float32 position (exponent bias 15 →
// 127, a factor 2^−112 that the weight's rescale factor undoes; see f16Rescale in quantize.ts),
// or with x prescaled by that factor once per op (prescale) so that the loop saves a multiply.

import { C_F16MASK } from './dot';
import { getF16WeightScale } from './dequant';
import { fma, hmax, hsum, hsum4 } from './simd';
import { keep, touch } from './ahead';

// Four accumulators: one float32 FMA chain per 16 bytes would leave the loop waiting on FMA
// latency (and with fewer loads in flight, memory bandwidth drops by half).

export function dotF32(w: usize, x: usize, K: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let j = 0, tk: i32 = 0;
  for (; j + 16 <= K; j += 16) {
    const o = <usize>j << 2;
    tk += touch(w + o);
    a0 = fma(v128.load(w + o), v128.load(x + o), a0);
    a1 = fma(v128.load(w + o, 16), v128.load(x + o, 16), a1);
    a2 = fma(v128.load(w + o, 32), v128.load(x + o, 32), a2);
    a3 = fma(v128.load(w + o, 48), v128.load(x + o, 48), a3);
  }
  let s = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  for (; j < K; j++) s += load<f32>(w + (<usize>j << 2)) * load<f32>(x + (<usize>j << 2));
  keep(tk);
  return s;
}

// @ts-ignore: decorator
@inline function f16lo(v: v128, mask: v128): v128 {
  return v128.and(i32x4.shl(i32x4.extend_low_i16x8_s(v), 13), mask);
}

// @ts-ignore: decorator
@inline function f16hi(v: v128, mask: v128): v128 {
  return v128.and(i32x4.shl(i32x4.extend_high_i16x8_s(v), 13), mask);
}

/** Row kinds of halfRow: float16 shifted into float32 position (times the weight's factor when
 *  SCALED; the factor is on x when PRESCALED), or bfloat16 (the upper half of a float32). */
const PRESCALED = 0, SCALED = 1, BFLOAT = 2;

/** Four of the eight 16-bit weights in v (lanes 4..7 when `hi`, else 0..3) as float32. */
// @ts-ignore: decorator
@inline function widen(kind: i32, v: v128, hi: bool, mask: v128, k: v128): v128 {
  if (kind == BFLOAT) return i32x4.shl(hi ? i32x4.extend_high_i16x8_u(v) : i32x4.extend_low_i16x8_u(v), 16);
  const f = hi ? f16hi(v, mask) : f16lo(v, mask);
  return kind == SCALED ? f32x4.mul(f, k) : f;
}

/** Σ w·x over a row of 16-bit weights of `kind` (a constant at every call). */
// @ts-ignore: decorator
@inline function halfRow(kind: i32, w: usize, x: usize, K: i32): f32 {
  const mask = v128.load(C_F16MASK), k = f32x4.splat(getF16WeightScale());
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let j = 0, tk: i32 = 0;
  for (; j + 16 <= K; j += 16) {
    tk += touch(w + (<usize>j << 1));
    const v = v128.load(w + (<usize>j << 1)), u = v128.load(w + (<usize>j << 1), 16);
    const o = <usize>j << 2;
    a0 = fma(widen(kind, v, false, mask, k), v128.load(x + o), a0);
    a1 = fma(widen(kind, v, true, mask, k), v128.load(x + o, 16), a1);
    a2 = fma(widen(kind, u, false, mask, k), v128.load(x + o, 32), a2);
    a3 = fma(widen(kind, u, true, mask, k), v128.load(x + o, 48), a3);
  }
  let s = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  for (; j < K; j++) {
    const h = <u32>load<u16>(w + (<usize>j << 1));
    const v = kind == BFLOAT ? reinterpret<f32>(h << 16) : reinterpret<f32>((h & 0x7fff) << 13 | ((h & 0x8000) << 16));
    s += (kind == SCALED ? v * getF16WeightScale() : v) * load<f32>(x + (<usize>j << 2));
  }
  keep(tk);
  return s;
}

export function dotF16(w: usize, x: usize, K: i32): f32 {
  return halfRow(SCALED, w, x, K);
}

/**
 * dotF16 with the weights' float32 rescaling moved onto x (xs = x·2^(112−s), see prescale):
 * the product of two powers of two is exact, so the result is the same with a multiply less
 * per four weights.
 */
export function dotF16Prescaled(w: usize, xs: usize, K: i32): f32 {
  return halfRow(PRESCALED, w, xs, K);
}

/**
 * dotF16Prescaled of the rows at w + i·stride, i = 0..3, as four streams (see dotQuad4 in
 * quad.ts); K a multiple of 16. Two accumulators per row (the four rows' chains interleave).
 */
export function dotF16Prescaled4(w: usize, stride: usize, xs: usize, K: i32): v128 {
  const mask = v128.load(C_F16MASK);
  let a0 = f32x4.splat(0), b0 = f32x4.splat(0), a1 = f32x4.splat(0), b1 = f32x4.splat(0);
  let a2 = f32x4.splat(0), b2 = f32x4.splat(0), a3 = f32x4.splat(0), b3 = f32x4.splat(0);
  const w1 = w + stride, w2 = w1 + stride, w3 = w2 + stride;
  let tk: i32 = 0;
  for (let j = 0; j < K; j += 16) {
    const o = <usize>j << 1, xo = xs + (<usize>j << 2);
    if ((j & 16) == 0) tk += touch(w + o) + touch(w1 + o) + touch(w2 + o) + touch(w3 + o);
    const x0 = v128.load(xo), x1 = v128.load(xo, 16), x2 = v128.load(xo, 32), x3 = v128.load(xo, 48);
    let v = v128.load(w + o), u = v128.load(w + o, 16);
    a0 = fma(f16lo(v, mask), x0, a0); b0 = fma(f16hi(v, mask), x1, b0); a0 = fma(f16lo(u, mask), x2, a0); b0 = fma(f16hi(u, mask), x3, b0);
    v = v128.load(w1 + o); u = v128.load(w1 + o, 16);
    a1 = fma(f16lo(v, mask), x0, a1); b1 = fma(f16hi(v, mask), x1, b1); a1 = fma(f16lo(u, mask), x2, a1); b1 = fma(f16hi(u, mask), x3, b1);
    v = v128.load(w2 + o); u = v128.load(w2 + o, 16);
    a2 = fma(f16lo(v, mask), x0, a2); b2 = fma(f16hi(v, mask), x1, b2); a2 = fma(f16lo(u, mask), x2, a2); b2 = fma(f16hi(u, mask), x3, b2);
    v = v128.load(w3 + o); u = v128.load(w3 + o, 16);
    a3 = fma(f16lo(v, mask), x0, a3); b3 = fma(f16hi(v, mask), x1, b3); a3 = fma(f16lo(u, mask), x2, a3); b3 = fma(f16hi(u, mask), x3, b3);
  }
  keep(tk);
  return hsum4(f32x4.add(a0, b0), f32x4.add(a1, b1), f32x4.add(a2, b2), f32x4.add(a3, b3));
}

/**
 * Copies x·k into xs and returns whether every product stayed finite and normal enough for
 * dotF16Prescaled (|x| up to ~10^6 with k ≤ 2^112; larger activations keep the slower path).
 */
export function prescale(x: usize, xs: usize, K: i32, k: f32): bool {
  let m = f32x4.splat(0);
  const kv = f32x4.splat(k);
  let j = 0;
  for (; j + 4 <= K; j += 4) {
    const v = v128.load(x + (<usize>j << 2));
    m = f32x4.max(m, f32x4.abs(v));
    v128.store(xs + (<usize>j << 2), f32x4.mul(v, kv));
  }
  let mx = hmax(m);
  for (; j < K; j++) {
    const v = load<f32>(x + (<usize>j << 2));
    mx = max(mx, abs(v));
    store<f32>(xs + (<usize>j << 2), v * k);
  }
  return mx * k < <f32>1e36;
}

export function dotBF16(w: usize, x: usize, K: i32): f32 {
  return halfRow(BFLOAT, w, x, K);
}

