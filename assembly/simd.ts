// Small vector helpers shared by the kernels.

/** 2^112: rescales a float16 whose bits were shifted into float32 position (exponent bias 15 → 127). */
export const F16_RESCALE: f32 = 5.192296858534828e33;

/** A float16 (bits) as float32, exactly, in integer arithmetic (no float32 subnormal operations). */
export function f16(bits: u32): f32 {
  const mag = bits & 0x7fff, sign = (bits & 0x8000) << 16;
  if (mag >= 0x400) return reinterpret<f32>(sign | ((mag << 13) + (112 << 23)));
  const sub = <f32>(mag & 0x3ff) * <f32>5.960464477539063e-8;
  return reinterpret<f32>(sign | reinterpret<u32>(sub));
}

// @ts-ignore: decorator
@inline export function fma(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** c − a·b. */
// @ts-ignore: decorator
@inline export function fnma(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_nmadd(a, b, c);
  return f32x4.sub(c, f32x4.mul(a, b));
}

/** [Σa, Σb, Σc, Σd] of four f32x4, each summed in hsum's order (v0 + v2) + (v1 + v3). */
// @ts-ignore: decorator
@inline export function hsum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = f32x4.add(f32x4.shuffle(a, b, 0, 1, 4, 5), f32x4.shuffle(a, b, 2, 3, 6, 7)); // a0+a2 a1+a3 b0+b2 b1+b3
  const cd = f32x4.add(f32x4.shuffle(c, d, 0, 1, 4, 5), f32x4.shuffle(c, d, 2, 3, 6, 7));
  return f32x4.add(f32x4.shuffle(ab, cd, 0, 2, 4, 6), f32x4.shuffle(ab, cd, 1, 3, 5, 7));
}

// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  const s = f32x4.add(v, f32x4.shuffle(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1);
}

// @ts-ignore: decorator
@inline export function hmax(v: v128): f32 {
  const s = f32x4.max(v, f32x4.shuffle(v, v, 2, 3, 0, 1));
  return max(f32x4.extract_lane(s, 0), f32x4.extract_lane(s, 1));
}

/** Lane `i` (a constant after unrolling) of `v` in all four lanes. */
// @ts-ignore: decorator
@inline export function lane(v: v128, i: i32): v128 {
  if (i == 0) return f32x4.shuffle(v, v, 0, 0, 0, 0);
  if (i == 1) return f32x4.shuffle(v, v, 1, 1, 1, 1);
  if (i == 2) return f32x4.shuffle(v, v, 2, 2, 2, 2);
  return f32x4.shuffle(v, v, 3, 3, 3, 3);
}

/**
 * e^x for four float32 lanes, Cephes' expf (range reduction by ln 2 in two parts, degree-5
 * polynomial; ~1 ulp). Inputs are clamped to [-87.3, 88.3] so the result stays finite.
 * Written for V8's x64 code: pmin/pmax are one instruction each (min/max, with wasm's NaN and
 * ±0 rules, about seven; a NaN still passes through pmin/pmax in this operand order), and
 * n = round(x·log2 e) comes from adding 1.5·2^23, which rounds to the nearest integer (ties to
 * even, as f32x4.nearest) and leaves n in the low mantissa bits: 2^n is those bits plus 127,
 * shifted into the exponent (the constant's own bits shift out), with no float → int conversion.
 */
// @ts-ignore: decorator
@inline export function exp4(x: v128): v128 {
  x = f32x4.pmin(f32x4.pmax(x, f32x4.splat(-87.3)), f32x4.splat(88.3));
  const magic = f32x4.splat(12582912); // 1.5·2^23
  const t = f32x4.add(f32x4.mul(x, f32x4.splat(1.44269504088896341)), magic);
  const fx = f32x4.sub(t, magic);
  x = f32x4.sub(x, f32x4.mul(fx, f32x4.splat(0.693359375)));
  x = f32x4.sub(x, f32x4.mul(fx, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, x), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, x), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, x), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, x), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, x), f32x4.splat(5.0000001201e-1));
  p = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, x), x), x), f32x4.splat(1));
  const pow2 = i32x4.shl(i32x4.add(t, i32x4.splat(127)), 23);
  return f32x4.mul(p, pow2);
}

/** Stores `v` to this thread's sink line, so that a loop whose result is otherwise unused stays.
 *  (The doc's trick of storing partial sums inside kernel loops to stop V8 hoisting loads
 *  measured 6–12% slower here, on V8 11.3 / Intel, so the kernels do not use it.) */
// @ts-ignore: decorator
@inline export function sink(line: usize, v: v128): void {
  v128.store(line, v);
}
