/**
 * Arithmetic shared by the block formats. ggml's reference quantizers (ggml-quants.c) run in
 * float32 without FMA contraction, so every float operation they perform is mirrored as a
 * double operation followed by Math.fround (bound locally as `fr` in each file, which lets V8
 * inline it): for +, −, ×, ÷ and sqrt on float32 operands, the double result rounded to
 * float32 is the float32 result (a double has more than twice the bits). That is what makes
 * our files byte-identical to llama.cpp's.
 */
import { f16ToF32, f32ToF16 } from '../formats/dtype.js';
import { GemmaError } from '../errors.js';

const scratch = new Float32Array(1);
const scratchBits = new Int32Array(scratch.buffer);

/**
 * ggml's nearest_int: adds 1.5·2^23 in float32 so the mantissa holds the rounded integer
 * (ties to even), then reads it back from the bits. Reproduced bit for bit, including what it
 * returns outside its asserted range |v| ≤ 4194303 (ggml is built without asserts).
 */
export function nearestInt(v: number): number {
  scratch[0] = v + 12582912; // the store rounds to float32
  return (scratchBits[0]! & 0x007fffff) - 0x00400000;
}

/** C's roundf: half away from zero. */
export function roundAway(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

/** ggml's GROUP_MAX_EPS (1e-15f): groups with a smaller maximum count as all zero. */
export const GROUP_MAX_EPS = Math.fround(1e-15);

let f16Table: Float32Array | undefined;

/** All 65536 binary16 values (256 KiB, built on first use): decoding a scale is one load. */
function f16Values(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16ToF32(h);
  }
  return f16Table;
}

/** ggml_half at byte `o` (little-endian binary16). */
export function readF16(b: Uint8Array, o: number): number {
  return (f16Table ?? f16Values())[b[o]! | (b[o + 1]! << 8)]!;
}

/**
 * Stores `v` as a ggml_half (GGML_FP32_TO_FP16: round to nearest even) and returns the stored
 * value. A scale beyond the binary16 range would make every element Inf or NaN, so it is an error.
 */
export function writeF16(b: Uint8Array, o: number, v: number, what: string): number {
  const h = f32ToF16(v);
  if ((h & 0x7c00) === 0x7c00) {
    throw new GemmaError(`${what}: block scale ${v} overflows float16; the values are too large for this type`);
  }
  b[o] = h & 0xff;
  b[o + 1] = h >>> 8;
  return f16ToF32(h);
}

/** Quantizes whole blocks: reads `nBlocks` blocks of `x` from element `xo`, writes bytes at `yo`. */
export type BlockQuantizer = (x: Float32Array, xo: number, nBlocks: number, y: Uint8Array, yo: number, what: string) => void;

/** Decodes `nBlocks` blocks starting at byte `off` of `b` into `out` from index `o`. */
export type BlockDequantizer = (b: Uint8Array, off: number, nBlocks: number, out: Float32Array, o: number) => void;
