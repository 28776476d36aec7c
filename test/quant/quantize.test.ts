/**
 * Quantizers: bit-exact against llama.cpp's own reference quantizers (a fixture of its output,
 * see fixtures/make-ggml-goldens.c), hand-verified small cases, round-trip error within each
 * type's stated bound, zeros, outliers and bad input.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GemmaError } from '../../src/errors.js';
import { f32ToF16 } from '../../src/formats/dtype.js';
import { GgmlType } from '../../src/formats/ggml-types.js';
import { fillGaussian } from '../../src/model/random.js';
import { Rng } from '../../src/sampling/rng.js';
import { dequantize, QUANT_FORMATS, quantize } from '../../src/quant/index.js';

const formats = [...QUANT_FORMATS.values()];

function roundTrip(type: GgmlType, x: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  dequantize(type, quantize(type, x), 0, x.length, out);
  return out;
}

function gaussian(n: number, std: number, seed: number): Float32Array {
  const x = new Float32Array(n);
  fillGaussian(x, new Rng(seed), std);
  return x;
}

const f16Bytes = (v: number) => [f32ToF16(v) & 0xff, f32ToF16(v) >> 8];

describe('bit-exact against llama.cpp (ggml_quantize_chunk / dequantize_row_*)', () => {
  const goldens = JSON.parse(readFileSync(new URL('./fixtures/ggml-goldens.json', import.meta.url), 'utf8')) as {
    input: string; types: Record<string, { bytes: string; dequantized: string }>;
  };
  const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
  const input = new Float32Array(b64(goldens.input).buffer);

  it('covers every implemented type', () => {
    expect(Object.keys(goldens.types).sort()).toEqual(formats.map((f) => f.name).sort());
  });

  describe.each(formats.map((f) => [f.name, f.type] as const))('%s', (name, type) => {
    const golden = goldens.types[name]!;

    it('quantize writes the same bytes', () => {
      const ours = quantize(type, input);
      const want = b64(golden.bytes);
      expect(ours.length).toBe(want.length);
      const first = ours.findIndex((v, i) => v !== want[i]);
      expect(first, `first differing byte ${first}`).toBe(-1);
    });

    it('dequantize gives the same float32 values', () => {
      const out = new Float32Array(input.length);
      dequantize(type, b64(golden.bytes), 0, input.length, out);
      const want = new Float32Array(b64(golden.dequantized).buffer);
      const first = out.findIndex((v, i) => !Object.is(v, want[i]));
      expect(first, `first differing element ${first}`).toBe(-1);
    });
  });
});

describe('hand-verified blocks', () => {
  it('Q8_0: d = max|x| / 127 in fp16, q = round half away from zero', () => {
    const x = new Float32Array(32);
    x.set([127, 2.5, -2.5, 0.5, -0.5, 1.5, -126.6, 3.49]);
    const y = quantize(GgmlType.Q8_0, x);
    expect([...y.subarray(0, 2)]).toEqual(f16Bytes(1));
    expect([...new Int8Array(y.buffer, 2, 8)]).toEqual([127, 3, -3, 1, -1, 2, -127, 3]);
    expect([...y.subarray(10)].every((v) => v === 0)).toBe(true);

    const r = new Float32Array(32).map((_, j) => (j - 10) / 4); // max |x| = 5.25
    const d = Math.fround(5.25 / 127);
    const q = quantize(GgmlType.Q8_0, r);
    expect([...q.subarray(0, 2)]).toEqual(f16Bytes(d));
    expect([...new Int8Array(q.buffer, 2, 32)]).toEqual([...r].map((v) => Math.round((v * 127) / 5.25)));
  });

  it('Q4_0: d = (signed max) / −8, q = min(15, trunc(x/d + 8.5))', () => {
    const x = new Float32Array(32);
    x.set([-8, 7, 7.6, 0.5, -0.5, 1.49, -7.5, 3]);
    const y = quantize(GgmlType.Q4_0, x);
    expect([...y.subarray(0, 2)]).toEqual(f16Bytes(1));
    const q = [...y.subarray(2)].flatMap((b) => [b & 15]).concat([...y.subarray(2)].map((b) => b >> 4));
    expect(q).toEqual([0, 15, 15, 9, 8, 9, 1, 11, ...Array(24).fill(8)]);
  });

  it('Q4_1: m = min, d = (max − min) / 15', () => {
    const x = new Float32Array(32).map((_, j) => -1 + 0.2 * (j % 16));
    const y = quantize(GgmlType.Q4_1, x);
    expect([...y.subarray(0, 4)]).toEqual([...f16Bytes(Math.fround(Math.fround(3) / 15)), ...f16Bytes(-1)]);
    expect([...y.subarray(4)]).toEqual(Array.from({ length: 16 }, (_, j) => j | (j << 4)));
  });

  it('Q5_0 and Q5_1: fifth bits land in qh', () => {
    const x = new Float32Array(32).map((_, j) => j - 16); // signed max −16 → d = 1, q = x + 16
    const y = quantize(GgmlType.Q5_0, x);
    expect([...y.subarray(0, 2)]).toEqual(f16Bytes(1));
    expect(new DataView(y.buffer).getUint32(2, true)).toBe(0xffff0000);
    expect([...y.subarray(6)]).toEqual(Array.from({ length: 16 }, (_, j) => j | (j << 4)));

    const z = quantize(GgmlType.Q5_1, new Float32Array(32).map((_, j) => 31 - j)); // d = 1, m = 0
    expect([...z.subarray(0, 4)]).toEqual([...f16Bytes(1), ...f16Bytes(0)]);
    expect(new DataView(z.buffer).getUint32(4, true)).toBe(0x0000ffff);
  });

  it('Q4_K: integer ramps give scale 63 everywhere and min 0', () => {
    const x = new Float32Array(256).map((_, e) => e % 16);
    const y = quantize(GgmlType.Q4_K, x);
    expect([...y.subarray(0, 4)]).toEqual([...f16Bytes(Math.fround(1 / 63)), 0, 0]);
    // sc = 63 for all eight sub-blocks, m = 0: the j ≥ 4 scales keep their top bits in bytes 0–3.
    expect([...y.subarray(4, 16)]).toEqual([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x0f, 0x0f, 0x0f, 0x0f]);
    const out = roundTrip(GgmlType.Q4_K, x);
    expect(f32ToF16(1 / 63)).toBe(0x2410); // d = 2^-6 · (1 + 16/1024), so each step is d · 63
    const step = ((1 + 16 / 1024) / 64) * 63;
    for (let e = 0; e < 256; e++) expect(out[e]).toBe(Math.fround(step * (e % 16)));
  });

  it('Q6_K: an exactly representable block round-trips exactly (negative d, scales −128)', () => {
    const x = new Float32Array(256).map((_, e) => (e % 16) - 8); // per sub-block max is −8 → scale 0.25
    const y = quantize(GgmlType.Q6_K, x);
    expect([...y.subarray(208)]).toEqual(f16Bytes(-1 / 512));
    expect([...new Int8Array(y.buffer, 192, 16)]).toEqual(Array(16).fill(-128));
    expect([...roundTrip(GgmlType.Q6_K, x)]).toEqual([...x]);
  });
});

describe.each(formats.map((f) => [f.name, f] as const))('%s round trip', (_name, f) => {
  it('normalised error on Gaussian data is within the stated bound', () => {
    for (const [std, seed] of [[1, 1], [0.02, 2], [1e-3, 3]] as const) {
      const x = gaussian(256 * 32, std, seed);
      const y = roundTrip(f.type, x);
      let err = 0, ref = 0;
      for (let i = 0; i < x.length; i++) { err += (x[i]! - y[i]!) ** 2; ref += x[i]! ** 2; }
      expect(Math.sqrt(err / ref), `σ = ${std}`).toBeLessThanOrEqual(f.errorBound);
    }
  });

  it('all-zero blocks decode to zeros', () => {
    const y = roundTrip(f.type, new Float32Array(512));
    expect(y.every((v) => v === 0)).toBe(true);
  });

  it('a single large outlier is kept and does not disturb its neighbours', () => {
    const x = gaussian(512, 0.01, 4);
    x[300] = 100;
    const y = roundTrip(f.type, x);
    expect(Math.abs(y[300]! - 100)).toBeLessThanOrEqual(100 * f.errorBound);
    let others = 0;
    for (let i = 0; i < x.length; i++) if (i !== 300) others = Math.max(others, Math.abs(y[i]! - x[i]!));
    // Its block loses the small values (error ≈ their size, 0.04) at worst; nothing blows up.
    expect(others).toBeLessThan(0.5);
  });

  it('rejects non-finite values, partial blocks and scales beyond float16', () => {
    const x = new Float32Array(2 * f.blockSize);
    x[5] = NaN;
    expect(() => quantize(f.type, x, 'blk.0.ffn_up.weight')).toThrow(/^tensor blk\.0\.ffn_up\.weight \(.+\): element 5 is NaN; only finite values can be quantized$/);
    x[5] = -Infinity;
    expect(() => quantize(f.type, x)).toThrow(GemmaError);
    expect(() => quantize(f.type, new Float32Array(f.blockSize + 1))).toThrow(new RegExp(`${f.blockSize + 1} values is not a multiple of the block size ${f.blockSize}`));
    if (f.type !== GgmlType.Q8_K) { // Q8_K keeps d in float32
      expect(() => quantize(f.type, new Float32Array(f.blockSize).fill(3e38))).toThrow(/too large for this type/);
    }
  });
});
