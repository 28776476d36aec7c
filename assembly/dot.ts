// The constants and float16 scale conversions that every integer kernel shares (Q8_0, Q4_0,
// Q4_K, Q5_K: quad.ts and kquad.ts; Q6_K: kquant.ts; Q4_1/Q5_0/Q5_1: legacy.ts).

import { CONSTS } from './sync';
import { F16_RESCALE } from './simd';

/** Constants of the kernels (see init in index.ts). */
export const C_NIBBLE: usize = CONSTS; // i8x16 0x0f
export const C_F16MASK: usize = CONSTS + 16; // i32x4 0x8fffe000
export const C_F16SCALE: usize = CONSTS + 32; // f32x4 2^112
const C_MAG: usize = CONSTS + 48; // i32x4 0x7fff
const C_BIAS: usize = CONSTS + 64; // i32x4 (127 − 15) << 23
const C_MANT: usize = CONSTS + 80; // i32x4 0x3ff
const C_SUB: usize = CONSTS + 96; // f32x4 2^−24
const C_MINNORM: usize = CONSTS + 112; // i32x4 0x400
const C_SIGN: usize = CONSTS + 128; // i32x4 0x80000000

export function initConsts(): void {
  v128.store(C_NIBBLE, i8x16.splat(15));
  v128.store(C_F16MASK, i32x4.splat(0x8fffe000));
  v128.store(C_F16SCALE, f32x4.splat(F16_RESCALE));
  v128.store(C_MAG, i32x4.splat(0x7fff));
  v128.store(C_BIAS, i32x4.splat(112 << 23));
  v128.store(C_MANT, i32x4.splat(0x3ff));
  v128.store(C_SUB, f32x4.splat(5.960464477539063e-8));
  v128.store(C_MINNORM, i32x4.splat(0x400));
  v128.store(C_SIGN, i32x4.splat(0x80000000));
}

/**
 * Float16 → float32 for the low four i16 lanes of `v`, exactly and without float32 subnormal
 * arithmetic: normal values by rebiasing the exponent in integer arithmetic, subnormals (block
 * scales of small weights often are: x86 would take a ~150-cycle assist per multiply on a
 * float32 subnormal) as mantissa · 2^−24 from an integer conversion.
 */
// @ts-ignore: decorator
@inline export function halfToFloat4(v: v128): v128 {
  const e = i32x4.extend_low_i16x8_s(v);
  const mag = v128.and(e, v128.load(C_MAG));
  const normal = i32x4.add(i32x4.shl(mag, 13), v128.load(C_BIAS));
  const sub = f32x4.mul(f32x4.convert_i32x4_s(v128.and(e, v128.load(C_MANT))), v128.load(C_SUB));
  const r = v128.bitselect(sub, normal, i32x4.lt_s(mag, v128.load(C_MINNORM)));
  return v128.or(r, v128.and(e, v128.load(C_SIGN)));
}

/**
 * Four float16 scales at `p` as float32. With `exact` (the weight has subnormal scales, see
 * repack in quantize.ts) through halfToFloat4; otherwise the bits shift into float32 position
 * (exponent bias 15 → 127, a factor 2^−112 that the multiply by 2^112 undoes exactly): 4
 * instructions instead of ~13, and exact for every normal float16 and zero.
 */
// @ts-ignore: decorator
@inline export function scales4(p: usize, exact: bool, mask: v128, rescale: v128): v128 {
  const v = v128.load64_zero(p);
  if (exact) return halfToFloat4(v);
  return f32x4.mul(v128.and(i32x4.shl(i32x4.extend_low_i16x8_s(v), 13), mask), rescale);
}

/** The float16 at `p` as float32 in all four lanes. */
// @ts-ignore: decorator
@inline export function scale1(p: usize): v128 {
  return halfToFloat4(v128.load16_splat(p));
}
