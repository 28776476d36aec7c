import { describe, it, expect } from 'vitest';
import { GemmaError } from '../../src/errors.js';
import {
  bf16ArrayToF32,
  bf16ToF32,
  f16ArrayToF32,
  f16ToF32,
  f32ArrayToBf16,
  f32ArrayToF16,
  f32Bits,
  f32FromBits,
  f32ToBf16,
  f32ToF16,
} from '../../src/formats/dtype.js';

const isF16NaN = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
const isBf16NaN = (b: number) => (b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0;

/** Deterministic PRNG so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>>= 0);
  };
}

/** Nearest-even f16 for a float32 value, by search over the sorted positive f16 values. */
const positiveF16 = Array.from({ length: 0x7c00 }, (_, h) => f16ToF32(h));
function referenceF16(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00;
  let lo = 0;
  let hi = 0x7bff;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (positiveF16[mid]! <= a) lo = mid;
    else hi = mid - 1;
  }
  if (lo === 0x7bff || positiveF16[lo] === a) return sign | lo;
  const dLo = a - positiveF16[lo]!;
  const dHi = positiveF16[lo + 1]! - a;
  if (dLo < dHi) return sign | lo;
  if (dHi < dLo) return sign | (lo + 1);
  return sign | (lo % 2 === 0 ? lo : lo + 1);
}

describe('f16', () => {
  it('decodes known values', () => {
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x0400)).toBe(2 ** -14);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x03ff)).toBe(1023 * 2 ** -24);
    expect(f16ToF32(0x3555)).toBe(Math.fround(0.333251953125));
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(f16ToF32(0xfc00)).toBe(-Infinity);
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    expect(f16ToF32(0x7e00)).toBeNaN();
  });

  it('round-trips all 65536 values (scalar and array)', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const f32 = new Float32Array(65536);
    f16ArrayToF32(all, f32);
    const back = new Uint16Array(65536);
    f32ArrayToF16(f32, back);
    for (let h = 0; h < 65536; h++) {
      const v = f16ToF32(h);
      expect(Object.is(f32[h], Math.fround(v)) || (Number.isNaN(v) && Number.isNaN(f32[h]))).toBe(true);
      if (isF16NaN(h)) {
        expect(Number.isNaN(v)).toBe(true);
        expect(isF16NaN(f32ToF16(v))).toBe(true);
        expect(isF16NaN(back[h]!)).toBe(true);
      } else {
        if (f32ToF16(v) !== h || back[h] !== h) expect([h, f32ToF16(v), back[h]]).toEqual([h, h, h]);
      }
    }
  });

  it('rounds ties to even, and neighbours of ties to the nearest, for every adjacent pair', () => {
    for (const sign of [0, 0x8000]) {
      for (let h = 0; h < 0x7bff; h++) {
        const a = f16ToF32(sign | h);
        const b = f16ToF32(sign | (h + 1));
        const mid = (a + b) / 2;
        expect(Math.fround(mid)).toBe(mid);
        const even = h % 2 === 0 ? h : h + 1;
        const bits = f32Bits(mid);
        const got = [f32ToF16(mid), f32ToF16(f32FromBits(bits - 1)), f32ToF16(f32FromBits(bits + 1))];
        const want = [sign | even, sign | h, sign | (h + 1)];
        if (got.some((g, i) => g !== want[i])) expect(got).toEqual(want);
      }
    }
  });

  it('overflows to infinity at 65520 and handles subnormals', () => {
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(f32FromBits(f32Bits(65520) - 1))).toBe(0x7bff);
    expect(f32ToF16(65520)).toBe(0x7c00);
    expect(f32ToF16(-1e6)).toBe(0xfc00);
    expect(f32ToF16(Infinity)).toBe(0x7c00);
    expect(f32ToF16(2 ** -25)).toBe(0);
    expect(f32ToF16(-(2 ** -25))).toBe(0x8000);
    expect(f32ToF16(f32FromBits(f32Bits(2 ** -25) + 1))).toBe(1);
    expect(f32ToF16(3 * 2 ** -25)).toBe(2);
    expect(f32ToF16(1e-10)).toBe(0);
    expect(f32ToF16(2 ** -14 - 2 ** -25)).toBe(0x0400);
    expect(isF16NaN(f32ToF16(NaN))).toBe(true);
  });

  it('matches a brute-force nearest-even reference on random float32 values', () => {
    const next = rng(12345);
    const src = new Float32Array(200_000);
    const bits = new Uint32Array(src.buffer);
    for (let i = 0; i < src.length; i++) {
      // Half the samples keep the exponent near the f16 range, where rounding is interesting.
      const r = next();
      bits[i] = i % 2 ? r : (r & 0x807fffff) | ((100 + (next() % 44)) << 23);
    }
    const out = new Uint16Array(src.length);
    f32ArrayToF16(src, out);
    for (let i = 0; i < src.length; i++) {
      const x = src[i]!;
      if (Number.isNaN(x)) {
        expect(isF16NaN(out[i]!)).toBe(true);
        continue;
      }
      const want = referenceF16(x);
      if (out[i] !== want || f32ToF16(x) !== want) expect([x, out[i], f32ToF16(x)]).toEqual([x, want, want]);
    }
  });

  it('keeps signalling NaNs NaN', () => {
    const src = new Float32Array(2);
    new Uint32Array(src.buffer).set([0x7f800001, 0xff800100]);
    const out = new Uint16Array(2);
    f32ArrayToF16(src, out);
    expect(isF16NaN(out[0]!) && isF16NaN(out[1]!)).toBe(true);
    expect(out[1]! & 0x8000).toBe(0x8000);
  });
});

describe('bf16', () => {
  it('round-trips all 65536 values (scalar and array)', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const f32 = new Float32Array(65536);
    bf16ArrayToF32(all, f32);
    const back = new Uint16Array(65536);
    f32ArrayToBf16(f32, back);
    const f32bits = new Uint32Array(f32.buffer);
    for (let b = 0; b < 65536; b++) {
      expect(f32bits[b]).toBe((b << 16) >>> 0);
      if (isBf16NaN(b)) {
        expect(Number.isNaN(bf16ToF32(b))).toBe(true);
        expect(isBf16NaN(f32ToBf16(bf16ToF32(b)))).toBe(true);
        expect(isBf16NaN(back[b]!)).toBe(true);
      } else if (f32ToBf16(bf16ToF32(b)) !== b || back[b] !== b) {
        expect([b, f32ToBf16(bf16ToF32(b)), back[b]]).toEqual([b, b, b]);
      }
    }
  });

  it('rounds to nearest even against a double-precision reference', () => {
    const next = rng(777);
    for (let i = 0; i < 200_000; i++) {
      // Every fourth sample is an exact tie.
      const raw = next();
      const bits = i % 4 === 0 ? ((raw & 0xffff0000) | 0x8000) >>> 0 : raw;
      const x = f32FromBits(bits);
      if (Number.isNaN(x)) {
        expect(isBf16NaN(f32ToBf16(x))).toBe(true);
        continue;
      }
      const u = bits >>> 16;
      const mag = u & 0x7fff;
      const lo = Math.abs(bf16ToF32(mag));
      // Rounding up from the largest finite bf16 overflows to Infinity; compare against 2^128 instead.
      const hi = mag + 1 === 0x7f80 ? 2 ** 128 : Math.abs(bf16ToF32(mag + 1));
      const a = Math.abs(x);
      let want = mag;
      if (mag !== 0x7f80 && a - lo > hi - a) want = mag + 1;
      else if (mag !== 0x7f80 && a - lo === hi - a && a !== lo) want = mag % 2 === 0 ? mag : mag + 1;
      want |= u & 0x8000;
      const got = f32ToBf16(x);
      if (got !== want) expect([bits.toString(16), got.toString(16)]).toEqual([bits.toString(16), want.toString(16)]);
    }
  });

  it('handles ties, overflow and NaN', () => {
    expect(f32ToBf16(f32FromBits(0x3f808000))).toBe(0x3f80);
    expect(f32ToBf16(f32FromBits(0x3f818000))).toBe(0x3f82);
    expect(f32ToBf16(f32FromBits(0x7f7fffff))).toBe(0x7f80);
    expect(f32ToBf16(-Infinity)).toBe(0xff80);
    const src = new Float32Array(1);
    new Uint32Array(src.buffer)[0] = 0x7f800001;
    const out = new Uint16Array(1);
    f32ArrayToBf16(src, out);
    expect(isBf16NaN(out[0]!)).toBe(true);
  });

  it('rejects a destination that is too short', () => {
    expect(() => bf16ArrayToF32(new Uint16Array(4), new Float32Array(3))).toThrow(GemmaError);
    expect(() => f16ArrayToF32(new Uint16Array(4), new Float32Array(3))).toThrow('destination holds 3 values, source has 4');
  });
});
