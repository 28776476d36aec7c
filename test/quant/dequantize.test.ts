/**
 * Dequantization of blocks built by hand from ggml's block structs (ggml-common.h), written
 * here independently of our quantizers: every type, negative scales, the offset/min types,
 * K-quant 6-bit scale packing at its edge values (0 and 63) and sub-block boundaries.
 */
import { describe, expect, it } from 'vitest';
import { GemmaError } from '../../src/errors.js';
import { f32ToF16 } from '../../src/formats/dtype.js';
import { GGML_TYPE_INFO, GgmlType } from '../../src/formats/ggml-types.js';
import { dequantize, QUANT_FORMATS } from '../../src/quant/index.js';

/** A block builder: a byte array with little-endian writers. */
class Block {
  readonly b: Uint8Array;
  constructor(size: number) { this.b = new Uint8Array(size); }
  f16(o: number, v: number): this { const h = f32ToF16(v); this.b[o] = h & 0xff; this.b[o + 1] = h >> 8; return this; }
  u32(o: number, v: number): this { new DataView(this.b.buffer).setUint32(o, v, true); return this; }
  f32(o: number, v: number): this { new DataView(this.b.buffer).setFloat32(o, v, true); return this; }
}

/** Decodes `bytes` placed at an odd offset inside a larger buffer (blocks are unaligned in files). */
function decode(type: GgmlType, bytes: Uint8Array): Float32Array {
  const { blockSize, typeSize } = GGML_TYPE_INFO[type]!;
  const count = (bytes.length / typeSize) * blockSize;
  const padded = new Uint8Array(bytes.length + 8);
  padded.set(bytes, 3);
  const view = padded.subarray(2);
  const out = new Float32Array(count);
  dequantize(type, view, 1, count, out);
  return out;
}

function expectValues(actual: Float32Array, expected: (i: number) => number): void {
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== Math.fround(expected(i))) expect.fail(`element ${i}: got ${actual[i]}, expected ${Math.fround(expected(i))}`);
  }
}

describe('32-element blocks', () => {
  it('Q8_0: x = d·q, int8 quants, negative d', () => {
    const q = Array.from({ length: 32 }, (_, j) => (j < 5 ? [-128, -1, 0, 1, 127][j]! : 3 * j - 50));
    const blk = new Block(68).f16(0, 0.5).f16(34, -0.25);
    q.forEach((v, j) => { blk.b[2 + j] = v & 0xff; blk.b[36 + j] = (31 - j) & 0xff; });
    const out = decode(GgmlType.Q8_0, blk.b);
    expect([...out.subarray(0, 5)]).toEqual([-64, -0.5, 0, 0.5, 63.5]);
    expectValues(out, (i) => (i < 32 ? 0.5 * q[i]! : -0.25 * (31 - (i - 32))));
  });

  it('Q4_0: x = d·(q − 8); low nibbles are elements 0–15, high nibbles 16–31', () => {
    const blk = new Block(18).f16(0, 2);
    for (let j = 0; j < 16; j++) blk.b[2 + j] = j | ((15 - j) << 4);
    const out = decode(GgmlType.Q4_0, blk.b);
    expect(out[0]).toBe(-16);
    expect(out[15]).toBe(14);
    expect(out[16]).toBe(14);
    expect(out[31]).toBe(-16);
    expectValues(out, (i) => (i < 16 ? (i - 8) * 2 : (15 - (i - 16) - 8) * 2));
  });

  it('Q4_1: x = d·q + m with a negative offset', () => {
    const blk = new Block(20).f16(0, 0.5).f16(2, -3);
    for (let j = 0; j < 16; j++) blk.b[4 + j] = (j % 16) | (((j * 5) % 16) << 4);
    const out = decode(GgmlType.Q4_1, blk.b);
    expect(out[0]).toBe(-3);
    expect(out[15]).toBe(4.5);
    expectValues(out, (i) => (i < 16 ? 0.5 * i - 3 : 0.5 * (((i - 16) * 5) % 16) - 3));
  });

  it('Q5_0: x = d·(q − 16), fifth bit j of qh belongs to element j', () => {
    const qh = 0xa5c3_0ff1;
    const blk = new Block(22).f16(0, -1.5).u32(2, qh);
    for (let j = 0; j < 16; j++) blk.b[6 + j] = ((3 * j) & 15) | (((7 * j + 1) & 15) << 4);
    const out = decode(GgmlType.Q5_0, blk.b);
    const nib = (i: number) => (i < 16 ? (3 * i) & 15 : (7 * (i - 16) + 1) & 15);
    expectValues(out, (i) => -1.5 * ((nib(i) | (((qh >>> i) & 1) << 4)) - 16));
    expect(out[0]).toBe(-1.5 * (16 - 16)); // nibble 0, bit 0 set → 16
    expect(out[1]).toBe(-1.5 * (3 - 16)); // nibble 3, bit 1 clear
  });

  it('Q5_1: x = d·q + m', () => {
    const qh = 0x8000_0001;
    const blk = new Block(24).f16(0, 0.25).f16(2, 1).u32(4, qh);
    for (let j = 0; j < 16; j++) blk.b[8 + j] = 15 | (j << 4);
    const out = decode(GgmlType.Q5_1, blk.b);
    expect(out[0]).toBe(0.25 * 31 + 1);
    expect(out[31]).toBe(0.25 * (15 + 16) + 1);
    expectValues(out, (i) => 0.25 * ((i < 16 ? 15 : i - 16) | (((qh >>> i) & 1) << 4)) + 1);
  });
});

/** The 12-byte packing of eight 6-bit (scale, min) pairs used by Q4_K and Q5_K, written from the spec. */
function packK4(sc: number[], m: number[]): Uint8Array {
  const s = new Uint8Array(12);
  for (let j = 0; j < 4; j++) {
    s[j] = sc[j]! | ((sc[j + 4]! >> 4) << 6);
    s[j + 4] = m[j]! | ((m[j + 4]! >> 4) << 6);
    s[j + 8] = (sc[j + 4]! & 15) | ((m[j + 4]! & 15) << 4);
  }
  return s;
}

// Edge values: 0 and 63 in both fields, and high bits set on the j ≥ 4 side.
const SC = [0, 63, 1, 62, 63, 16, 47, 0];
const MN = [63, 0, 2, 61, 0, 63, 33, 15];

describe('K-quants with a minimum', () => {
  it('Q4_K: x = d·sc·q − dmin·m per 32-element sub-block', () => {
    const blk = new Block(144).f16(0, 0.5).f16(2, 0.25);
    blk.b.set(packK4(SC, MN), 4);
    const q = (e: number) => (e * 7 + (e >> 5)) & 15;
    for (let c = 0; c < 4; c++) for (let l = 0; l < 32; l++) blk.b[16 + 32 * c + l] = q(64 * c + l) | (q(64 * c + 32 + l) << 4);
    const out = decode(GgmlType.Q4_K, blk.b);
    expect(out[0]).toBe(-0.25 * 63); // scale 0: only the min remains
    expect(out[33]).toBe(0.5 * 63 * q(33)); // min 0
    expect(out[31]).toBe(-0.25 * 63); // last element of sub-block 0
    expect(out[32]).toBe(0.5 * 63 * q(32)); // first of sub-block 1
    expectValues(out, (e) => Math.fround(0.5 * SC[e >> 5]! * q(e)) - 0.25 * MN[e >> 5]!);
  });

  it('Q5_K: fifth bits in qh, bit 2c / 2c + 1 for the low / high half of chunk c', () => {
    const blk = new Block(176).f16(0, -0.125).f16(2, 2);
    blk.b.set(packK4(SC, MN), 4);
    const q = (e: number) => (e * 11 + 3) & 31;
    for (let c = 0; c < 4; c++) {
      for (let l = 0; l < 32; l++) {
        const q0 = q(64 * c + l), q1 = q(64 * c + 32 + l);
        blk.b[48 + 32 * c + l] = (q0 & 15) | ((q1 & 15) << 4);
        blk.b[16 + l] |= ((q0 >> 4) << (2 * c)) | ((q1 >> 4) << (2 * c + 1));
      }
    }
    const out = decode(GgmlType.Q5_K, blk.b);
    expect(out[255]).toBe(Math.fround(-0.125 * SC[7]! * q(255)) - 2 * MN[7]!);
    expectValues(out, (e) => Math.fround(-0.125 * SC[e >> 5]! * q(e)) - 2 * MN[e >> 5]!);
  });

  it('Q2_K: 4-bit scale and min per 16 elements, 2-bit quants', () => {
    const sc = Array.from({ length: 16 }, (_, j) => [0, 15, 7, 1][j % 4]!);
    const mn = Array.from({ length: 16 }, (_, j) => [15, 0, 3, 8][(j >> 2) % 4]!);
    const blk = new Block(84).f16(80, 0.5).f16(82, -0.25);
    sc.forEach((s, j) => { blk.b[j] = s | (mn[j]! << 4); });
    const q = (e: number) => (e * 5 + (e >> 4)) & 3;
    for (let h = 0; h < 2; h++) {
      for (let l = 0; l < 32; l++) {
        const e = 128 * h + l;
        blk.b[16 + 32 * h + l] = q(e) | (q(e + 32) << 2) | (q(e + 64) << 4) | (q(e + 96) << 6);
      }
    }
    const out = decode(GgmlType.Q2_K, blk.b);
    expect(out[0]).toBe(0.25 * 15); // scale 0, min 15 with dmin < 0
    expectValues(out, (e) => Math.fround(0.5 * sc[e >> 4]! * q(e)) + 0.25 * mn[e >> 4]!);
  });
});

describe('symmetric K-quants', () => {
  it('Q6_K: int8 scales per 16 elements (−128 and 127 included), 6-bit quants − 32', () => {
    const sc = [-128, 127, 0, 1, -1, 64, -64, 5, 100, -100, 3, -3, 127, -128, 7, 9];
    const blk = new Block(210).f16(208, -0.0625);
    sc.forEach((s, j) => { blk.b[192 + j] = s & 0xff; });
    const q = (e: number) => (e * 13 + 5) & 63;
    for (let h = 0; h < 2; h++) {
      for (let l = 0; l < 32; l++) {
        const e = 128 * h + l;
        blk.b[64 * h + l] = (q(e) & 15) | ((q(e + 64) & 15) << 4);
        blk.b[64 * h + 32 + l] = (q(e + 32) & 15) | ((q(e + 96) & 15) << 4);
        blk.b[128 + 32 * h + l] = (q(e) >> 4) | ((q(e + 32) >> 4) << 2) | ((q(e + 64) >> 4) << 4) | ((q(e + 96) >> 4) << 6);
      }
    }
    const out = decode(GgmlType.Q6_K, blk.b);
    expect(out[0]).toBe(-0.0625 * -128 * (q(0) - 32));
    expect(out[16]).toBe(-0.0625 * 127 * (q(16) - 32));
    expectValues(out, (e) => -0.0625 * sc[e >> 4]! * (q(e) - 32));
  });

  it('Q3_K: 6-bit signed scales (−32 and 31 included), 2 low bits in qs, third bit in hmask', () => {
    const sc = [-32, 31, 0, 1, -1, 15, -16, 16, 30, -31, 7, -7, 31, -32, 2, -2];
    const blk = new Block(110).f16(108, 0.5);
    sc.forEach((s, j) => {
      const u = s + 32;
      if (j < 8) blk.b[96 + j] |= u & 15; else blk.b[96 + j - 8] |= (u & 15) << 4;
      blk.b[96 + 8 + (j % 4)] |= (u >> 4) << (2 * (j >> 2));
    });
    const q = (e: number) => ((e * 3 + (e >> 3)) & 7) - 4;
    for (let e = 0; e < 256; e++) {
      const u = q(e) + 4;
      const h = e >> 7, k = (e >> 5) & 3, l = e & 31;
      blk.b[32 + 32 * h + l] |= (u & 3) << (2 * k);
      if (u & 4) blk.b[l] |= 1 << (4 * h + k);
    }
    const out = decode(GgmlType.Q3_K, blk.b);
    expect(out[0]).toBe(0.5 * -32 * q(0));
    expectValues(out, (e) => 0.5 * sc[e >> 4]! * q(e));
  });

  it('Q8_K: float32 d, int8 quants', () => {
    const blk = new Block(292).f32(0, -0.1);
    for (let j = 0; j < 256; j++) blk.b[4 + j] = (j - 128) & 0xff;
    const out = decode(GgmlType.Q8_K, blk.b);
    expectValues(out, (e) => Math.fround(-0.1) * (e - 128));
  });
});

describe('dequantize arguments', () => {
  it('every format agrees with the GGML type table', () => {
    for (const f of QUANT_FORMATS.values()) {
      expect(GGML_TYPE_INFO[f.type]).toMatchObject({ name: f.name, blockSize: f.blockSize, typeSize: f.typeSize });
    }
  });

  it('rejects partial blocks, short buffers and small outputs', () => {
    const out = new Float32Array(256);
    expect(() => dequantize(GgmlType.Q4_K, new Uint8Array(144), 0, 100, out)).toThrow(/Q4_K: 100 elements is not a whole number of 256-element blocks/);
    expect(() => dequantize(GgmlType.Q8_0, new Uint8Array(67), 0, 64, out)).toThrow(GemmaError);
    expect(() => dequantize(GgmlType.Q8_0, new Uint8Array(68), 1, 64, out)).toThrow(/need 68 bytes, buffer has 68/);
    expect(() => dequantize(GgmlType.Q8_0, new Uint8Array(34 * 16), 0, 512, out)).toThrow(/output holds 256/);
    expect(() => dequantize(GgmlType.F16, new Uint8Array(2), 0, 1, out)).toThrow(/F16 is not a quantized type/);
  });
});
