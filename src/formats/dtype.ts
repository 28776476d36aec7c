import { GemmaError } from '../errors.js';

/*
 * Exact conversions between float32 and the two 16-bit float formats used by
 * model files:
 *   IEEE 754 binary16 (f16): 1 sign, 5 exponent (bias 15), 10 mantissa bits.
 *   bfloat16 (bf16): the upper 16 bits of a binary32 (1 sign, 8 exponent, 7 mantissa).
 * Narrowing conversions round to nearest, ties to even, as IEEE 754 requires.
 * Typed arrays use the platform byte order; model files are little-endian,
 * as is every platform Node and browsers run on in practice.
 */

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** The float32 bit pattern of `x` (first rounded to float32). */
export function f32Bits(x: number): number {
  scratchF32[0] = x;
  return scratchU32[0]!;
}

/** The float32 value with bit pattern `bits`. */
export function f32FromBits(bits: number): number {
  scratchU32[0] = bits;
  return scratchF32[0]!;
}

/** binary16 bits → value (every binary16 value is exactly representable in float32). */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** float32 bit pattern → binary16 bits, round to nearest even. */
export function f32BitsToF16(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const abs = bits & 0x7fffffff;
  if (abs >= 0x7f800000) {
    // Inf stays Inf; NaN keeps its top payload bits and is forced quiet so it cannot become Inf.
    return abs === 0x7f800000 ? sign | 0x7c00 : sign | 0x7e00 | ((abs >>> 13) & 0x3ff);
  }
  // 65520 = 0x477ff000 is halfway between the largest f16 (65504) and 2^16; the tie goes to the even pattern, Inf.
  if (abs >= 0x477ff000) return sign | 0x7c00;
  if (abs >= 0x38800000) {
    // Normal f16 (|x| ≥ 2^-14): rebias the exponent (127 → 15) and drop 13 mantissa bits.
    let q = (abs >>> 13) - (112 << 10);
    const rem = abs & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && q & 1)) q++;
    return sign | q;
  }
  // Below half the smallest subnormal (2^-25) everything rounds to zero; exactly 2^-25 ties to even zero.
  if (abs <= 0x33000000) return sign;
  // Subnormal f16: the result is round(|x| * 2^24) with the implicit leading 1 made explicit.
  const exp = abs >>> 23;
  const mant = (abs & 0x7fffff) | 0x800000;
  const shift = 126 - exp;
  let q = mant >>> shift;
  const rem = mant & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rem > half || (rem === half && q & 1)) q++;
  return sign | q;
}

/** Value → binary16 bits. `x` is first rounded to float32, so this is the float32 → f16 conversion. */
export function f32ToF16(x: number): number {
  return f32BitsToF16(f32Bits(x));
}

/** bfloat16 bits → value. */
export function bf16ToF32(b: number): number {
  return f32FromBits((b & 0xffff) << 16);
}

/** float32 bit pattern → bfloat16 bits, round to nearest even; NaN stays a (quiet) NaN. */
export function f32BitsToBf16(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x0040) & 0xffff;
  // Adding 0x7fff plus the lowest kept bit rounds ties to even; a carry into the exponent is the correct result (up to Inf).
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Value → bfloat16 bits (`x` is first rounded to float32). */
export function f32ToBf16(x: number): number {
  return f32BitsToBf16(f32Bits(x));
}

let f16Table: Float32Array | undefined;

/** All 65536 binary16 values as float32, built on first use (256 KiB). */
function getF16Table(): Float32Array {
  if (!f16Table) {
    const table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = f16ToF32(h);
    f16Table = table;
  }
  return f16Table;
}

function checkLengths(what: string, srcLength: number, dstLength: number): void {
  if (dstLength < srcLength) {
    throw new GemmaError(`${what}: destination holds ${dstLength} values, source has ${srcLength}`);
  }
}

export function f16ArrayToF32(src: Uint16Array, dst: Float32Array): void {
  checkLengths('f16ArrayToF32', src.length, dst.length);
  const table = getF16Table();
  const n = src.length;
  for (let i = 0; i < n; i++) dst[i] = table[src[i]!]!;
}

export function bf16ArrayToF32(src: Uint16Array, dst: Float32Array): void {
  checkLengths('bf16ArrayToF32', src.length, dst.length);
  const out = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  const n = src.length;
  for (let i = 0; i < n; i++) out[i] = src[i]! << 16;
}

export function f32ArrayToF16(src: Float32Array, dst: Uint16Array): void {
  checkLengths('f32ArrayToF16', src.length, dst.length);
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const n = src.length;
  for (let i = 0; i < n; i++) dst[i] = f32BitsToF16(bits[i]!);
}

export function f32ArrayToBf16(src: Float32Array, dst: Uint16Array): void {
  checkLengths('f32ArrayToBf16', src.length, dst.length);
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const n = src.length;
  for (let i = 0; i < n; i++) dst[i] = f32BitsToBf16(bits[i]!);
}
