/**
 * The original 32-element block formats (ggml-common.h block_q8_0, block_q4_0, block_q4_1,
 * block_q5_0, block_q5_1) and their reference quantizers (ggml-quants.c quantize_row_*_ref),
 * which are what llama.cpp's quantizer uses for these types without an importance matrix.
 *
 * All five store one ggml_half scale `d` per block; the *_1 types add a ggml_half offset `m`
 * (x = d·q + m, q unsigned), the *_0 types are symmetric (x = d·(q − zero point)).
 * 4-bit quants are packed two per byte: byte j holds element j in its low nibble and element
 * j + 16 in its high nibble. The 5-bit types keep the fifth bits in a little-endian uint32
 * `qh`: bit j belongs to element j (0 ≤ j < 32).
 */
import { type BlockDequantizer, type BlockQuantizer, readF16, roundAway, writeF16 } from './common.js';

const QK = 32;
const fr = Math.fround;
const FLT_MAX = 3.4028234663852886e38;

/* block_q8_0 (34 bytes): { ggml_half d; int8_t qs[32]; }, x = d·qs. */

export const dequantizeQ8_0: BlockDequantizer = (b, off, nBlocks, out, o) => {
  for (let i = 0; i < nBlocks; i++, off += 34, o += QK) {
    const d = readF16(b, off);
    for (let j = 0; j < QK; j++) out[o + j] = d * ((b[off + 2 + j]! << 24) >> 24);
  }
};

/** quantize_row_q8_0_ref: d = max|x| / 127, q = roundf(x / d) (with the float32 d, before fp16). */
export const quantizeQ8_0: BlockQuantizer = (x, xo, nBlocks, y, yo, what) => {
  for (let i = 0; i < nBlocks; i++, xo += QK, yo += 34) {
    let amax = 0;
    for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(x[xo + j]!));
    const d = fr(amax / 127);
    const id = d !== 0 ? fr(1 / d) : 0;
    writeF16(y, yo, d, what);
    for (let j = 0; j < QK; j++) y[yo + 2 + j] = roundAway(fr(x[xo + j]! * id));
  }
};

/* block_q4_0 (18 bytes): { ggml_half d; uint8_t qs[16]; }, x = d·(q − 8). */

export const dequantizeQ4_0: BlockDequantizer = (b, off, nBlocks, out, o) => {
  for (let i = 0; i < nBlocks; i++, off += 18, o += QK) {
    const d = readF16(b, off);
    for (let j = 0; j < 16; j++) {
      const q = b[off + 2 + j]!;
      out[o + j] = ((q & 0x0f) - 8) * d;
      out[o + j + 16] = ((q >> 4) - 8) * d;
    }
  }
};

/**
 * The value of largest magnitude, keeping the first one on ties (the *_0 reference quantizers
 * scale by the signed maximum, so it maps exactly onto the most negative quant).
 */
function signedAbsMax(x: Float32Array, xo: number): number {
  let amax = 0, max = 0;
  for (let j = 0; j < QK; j++) {
    const v = x[xo + j]!;
    if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
  }
  return max;
}

/** quantize_row_q4_0_ref: d = max / −8, q = min(15, trunc(x/d + 8.5)). */
export const quantizeQ4_0: BlockQuantizer = (x, xo, nBlocks, y, yo, what) => {
  for (let i = 0; i < nBlocks; i++, xo += QK, yo += 18) {
    const d = fr(signedAbsMax(x, xo) / -8);
    const id = d !== 0 ? fr(1 / d) : 0;
    writeF16(y, yo, d, what);
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(15, Math.trunc(fr(fr(x[xo + j]! * id) + 8.5)));
      const q1 = Math.min(15, Math.trunc(fr(fr(x[xo + j + 16]! * id) + 8.5)));
      y[yo + 2 + j] = q0 | (q1 << 4);
    }
  }
};

/* block_q4_1 (20 bytes): { ggml_half d; ggml_half m; uint8_t qs[16]; }, x = d·q + m. */

export const dequantizeQ4_1: BlockDequantizer = (b, off, nBlocks, out, o) => {
  for (let i = 0; i < nBlocks; i++, off += 20, o += QK) {
    const d = readF16(b, off), m = readF16(b, off + 2);
    for (let j = 0; j < 16; j++) {
      const q = b[off + 4 + j]!;
      out[o + j] = (q & 0x0f) * d + m;
      out[o + j + 16] = (q >> 4) * d + m;
    }
  }
};

/** Minimum and maximum of a block, as the *_1 reference quantizers find them. */
function minMax(x: Float32Array, xo: number): [number, number] {
  let min = FLT_MAX, max = -FLT_MAX;
  for (let j = 0; j < QK; j++) {
    const v = x[xo + j]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return [min, max];
}

/** quantize_row_q4_1_ref: m = min, d = (max − min) / 15, q = min(15, trunc((x − m)/d + 0.5)). */
export const quantizeQ4_1: BlockQuantizer = (x, xo, nBlocks, y, yo, what) => {
  for (let i = 0; i < nBlocks; i++, xo += QK, yo += 20) {
    const [min, max] = minMax(x, xo);
    const d = fr(fr(max - min) / 15);
    const id = d !== 0 ? fr(1 / d) : 0;
    writeF16(y, yo, d, what);
    writeF16(y, yo + 2, min, what);
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(15, Math.trunc(fr(fr(fr(x[xo + j]! - min) * id) + 0.5)));
      const q1 = Math.min(15, Math.trunc(fr(fr(fr(x[xo + j + 16]! - min) * id) + 0.5)));
      y[yo + 4 + j] = q0 | (q1 << 4);
    }
  }
};

/* block_q5_0 (22 bytes): { ggml_half d; uint8_t qh[4]; uint8_t qs[16]; }, x = d·(q − 16). */

function readU32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff; b[o + 1] = (v >>> 8) & 0xff; b[o + 2] = (v >>> 16) & 0xff; b[o + 3] = v >>> 24;
}

export const dequantizeQ5_0: BlockDequantizer = (b, off, nBlocks, out, o) => {
  for (let i = 0; i < nBlocks; i++, off += 22, o += QK) {
    const d = readF16(b, off);
    const qh = readU32(b, off + 2);
    for (let j = 0; j < 16; j++) {
      const q = b[off + 6 + j]!;
      out[o + j] = (((q & 0x0f) | (((qh >>> j) & 1) << 4)) - 16) * d;
      out[o + j + 16] = (((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) - 16) * d;
    }
  }
};

/** Packs 32 five-bit quants: low nibbles into qs at `qo`, fifth bits into the uint32 qh at `ho`. */
function pack5(y: Uint8Array, ho: number, qo: number, q: (j: number) => number): void {
  let qh = 0;
  for (let j = 0; j < 16; j++) {
    const q0 = q(j), q1 = q(j + 16);
    y[qo + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
    qh |= ((q0 >> 4) & 1) << j;
    qh |= ((q1 >> 4) & 1) << (j + 16);
  }
  writeU32(y, ho, qh >>> 0);
}

/** quantize_row_q5_0_ref: d = max / −16, q = min(31, trunc(x/d + 16.5)). */
export const quantizeQ5_0: BlockQuantizer = (x, xo, nBlocks, y, yo, what) => {
  for (let i = 0; i < nBlocks; i++, xo += QK, yo += 22) {
    const d = fr(signedAbsMax(x, xo) / -16);
    const id = d !== 0 ? fr(1 / d) : 0;
    writeF16(y, yo, d, what);
    pack5(y, yo + 2, yo + 6, (j) => Math.min(31, Math.trunc(fr(fr(x[xo + j]! * id) + 16.5))));
  }
};

/* block_q5_1 (24 bytes): { ggml_half d; ggml_half m; uint8_t qh[4]; uint8_t qs[16]; }, x = d·q + m. */

export const dequantizeQ5_1: BlockDequantizer = (b, off, nBlocks, out, o) => {
  for (let i = 0; i < nBlocks; i++, off += 24, o += QK) {
    const d = readF16(b, off), m = readF16(b, off + 2);
    const qh = readU32(b, off + 4);
    for (let j = 0; j < 16; j++) {
      const q = b[off + 8 + j]!;
      out[o + j] = ((q & 0x0f) | (((qh >>> j) & 1) << 4)) * d + m;
      out[o + j + 16] = ((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) * d + m;
    }
  }
};

/** quantize_row_q5_1_ref: m = min, d = (max − min) / 31, q = trunc((x − m)/d + 0.5) (no clamp, as in ggml). */
export const quantizeQ5_1: BlockQuantizer = (x, xo, nBlocks, y, yo, what) => {
  for (let i = 0; i < nBlocks; i++, xo += QK, yo += 24) {
    const [min, max] = minMax(x, xo);
    const d = fr(fr(max - min) / 31);
    const id = d !== 0 ? fr(1 / d) : 0;
    writeF16(y, yo, d, what);
    writeF16(y, yo + 2, min, what);
    pack5(y, yo + 4, yo + 8, (j) => Math.trunc(fr(fr(fr(x[xo + j]! - min) * id) + 0.5)) & 0xff);
  }
};
