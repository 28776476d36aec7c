import { describe, expect, it } from 'vitest';
import { RefBackend } from '../../src/backend/ref/ref-backend.js';
import { GgmlType, ggmlTypeName } from '../../src/formats/ggml-types.js';
import { encodeTensor } from '../../src/model/export.js';
import type { Backend, Weight } from '../../src/backend/types.js';
import { CONFIGS, gaussian, nerr, useBackends } from './helpers.js';
import { FLOAT_GEMM_MIN_ROWS, type CpuBackend } from '../../src/backend/cpu/backend.js';
import { BATCH_MATMUL_TOLERANCE, MATMUL_TOLERANCE } from './tolerances.js';

const ref = new RefBackend();

const K_TYPES = new Set([GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K]);
const FLOAT_TYPES = new Set([GgmlType.F32, GgmlType.F16, GgmlType.BF16]);

/**
 * Shapes [outFeatures, inFeatures]: output rows not a multiple of any chunk, tile or pair;
 * inputs of 2048 and small ones (partial 4-block groups, tails for the float kernels).
 */
function shapes(type: GgmlType): [number, number][] {
  if (K_TYPES.has(type)) return [[37, 256], [19, 2048], [3, 768]];
  const s: [number, number][] = [[37, 2048], [67, 160], [1, 32], [5, 96], [130, 128]];
  if (FLOAT_TYPES.has(type)) s.push([9, 7], [6, 13]);
  return s;
}

/** Batch 1 (matvec), 2, larger than every tile, and large enough for the float GEMM path. */
const BATCHES = [1, 2, 9, FLOAT_GEMM_MIN_ROWS + 1];

const TYPES = Object.keys(MATMUL_TOLERANCE).map(Number) as GgmlType[];
const worst = new Map<string, number>();

describe.each(CONFIGS)('cpu backend matmul ($label)', ({ label }) => {
  const backends = useBackends(label);

  it.each(TYPES.map((t) => [ggmlTypeName(t), t] as const))('%s', async (_name, type) => {
    const cpu = backends.get(label)!;
    let seed = 100;
    for (const [outF, inF] of shapes(type)) {
      const bytes = encodeTensor(type, gaussian(outF * inF, seed++, 0.05));
      const w = cpu.createWeight('w', { shape: [outF, inF], type, bytes });
      const w2 = ref.createWeight('w', { shape: [outF, inF], type, bytes });
      for (const n of BATCHES) {
        const x = gaussian((n + 1) * inF, seed++);
        const xc = cpu.createTensor(n + 1, inF), xr = ref.createTensor(n + 1, inF);
        cpu.write(xc, x); ref.write(xr, x);
        const oc = cpu.createTensor(n + 1, outF), or = ref.createTensor(n + 1, outF);
        cpu.matmul(oc, xc, w, n); ref.matmul(or, xr, w2, n);
        const a = await cpu.read(oc), b = await ref.read(or);
        const e = nerr(a.subarray(0, n * outF), b.subarray(0, n * outF));
        const float = (cpu as CpuBackend).matmulPath(w, n) === 'float';
        const key = `${ggmlTypeName(type)}${n >= FLOAT_GEMM_MIN_ROWS ? ` (batch${float ? '' : ', integer'})` : ''}`;
        worst.set(key, Math.max(worst.get(key) ?? 0, e));
        if (process.env.SHOWERR) console.log(ggmlTypeName(type), outF, inF, n, e.toExponential(2));
        const tol = float && n >= FLOAT_GEMM_MIN_ROWS ? BATCH_MATMUL_TOLERANCE : MATMUL_TOLERANCE[type]!;
        expect(e, `[${outF}, ${inF}] batch ${n}`).toBeLessThanOrEqual(tol);
        expect(Array.from(a.subarray(n * outF)).every((v) => v === 0), 'rows past `rows` untouched').toBe(true);
        cpu.freeTensor(xc); cpu.freeTensor(oc);
      }
    }
  });
});

describe('matmul error summary', () => {
  it('prints the largest normalised error per type', () => {
    console.log([...worst].map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', '));
  });
});

/**
 * Normalised error of the CPU backend against the reference for the first n rows of x (for each
 * n of `ns`) times the same weight created on both (wc on the CPU backend, wr on the reference).
 */
async function errorsAgainstRef(cpu: Backend, wc: Weight, wr: Weight, x: Float32Array, ns: number[]): Promise<number[]> {
  const [rows, cols] = wc.shape;
  const xc = cpu.createTensor(x.length / cols, cols), xr = ref.createTensor(x.length / cols, cols);
  cpu.write(xc, x); ref.write(xr, x);
  const errs: number[] = [];
  for (const n of ns) {
    const yc = cpu.createTensor(n, rows), yr = ref.createTensor(n, rows);
    cpu.matmul(yc, xc, wc, n); ref.matmul(yr, xr, wr, n);
    errs.push(nerr(await cpu.read(yc), await ref.read(yr)));
  }
  return errs;
}

describe('F16 weights are rescaled at load time without changing any value', () => {
  const backends = useBackends('2 threads');
  it.each([
    ['small values and subnormals', 1e-4, 0],
    ['a large value limits the shift', 0.05, 1000],
  ])('%s', async (_label, std, big) => {
    const cpu = backends.get('2 threads')!;
    const [rows, cols] = [19, 160];
    const w = gaussian(rows * cols, 5, std);
    w[3] = 0; w[4] = -0; w[5] = 3e-8; w[6] = -6e-8; w[7] = big;
    const bytes = encodeTensor(GgmlType.F16, w);
    const wc = cpu.createWeight('w', { shape: [rows, cols], type: GgmlType.F16, bytes });
    const wr = ref.createWeight('w', { shape: [rows, cols], type: GgmlType.F16, bytes });
    const ids = Int32Array.from({ length: rows }, (_, i) => i);
    const oc = cpu.createTensor(rows, cols), or = ref.createTensor(rows, cols);
    cpu.embed(oc, wc, ids, 1); ref.embed(or, wr, ids, 1);
    expect(nerr(await cpu.read(oc), await ref.read(or))).toBe(0);
    for (const e of await errorsAgainstRef(cpu, wc, wr, gaussian(3 * cols, 6), [1, 3])) {
      expect(e).toBeLessThanOrEqual(MATMUL_TOLERANCE[GgmlType.F16]!);
    }
  });
});

describe('Q8_0 / Q4_0 scales: shift conversion, exact conversion when a scale is subnormal', () => {
  const backends = useBackends('2 threads');
  // A block's scale is max/127 (Q8_0) or max/8 (Q4_0), float16-subnormal below 2^−14 ≈ 6.1e-5:
  // blocks scaled down to std 1e-4 (Q8_0) or 1e-5 (Q4_0) get such scales; zero blocks scale 0.
  it.each([
    ['Q8_0, normal and zero scales', GgmlType.Q8_0, false],
    ['Q8_0, some subnormal scales', GgmlType.Q8_0, true],
    ['Q4_0, normal and zero scales', GgmlType.Q4_0, false],
    ['Q4_0, some subnormal scales', GgmlType.Q4_0, true],
  ])('%s', async (_label, type, tiny) => {
    const cpu = backends.get('2 threads')!;
    const [rows, cols] = [21, 352];
    const w = gaussian(rows * cols, 9, 0.05);
    for (let i = 0; i < 32; i++) w[64 + i] = 0; // row 0, block 2: scale 0
    if (tiny) for (let r = 3; r < rows; r += 4) for (let i = 0; i < 96; i++) w[r * cols + 128 + i] *= type === GgmlType.Q8_0 ? 2e-3 : 2e-4;
    const bytes = encodeTensor(type, w);
    const wc = cpu.createWeight('w', { shape: [rows, cols], type, bytes });
    const wr = ref.createWeight('w', { shape: [rows, cols], type, bytes });
    expect((wc as unknown as { subnormalScales: boolean }).subnormalScales).toBe(tiny);
    for (const e of await errorsAgainstRef(cpu, wc, wr, gaussian(3 * cols, 10), [1, 3])) {
      expect(e).toBeLessThanOrEqual(MATMUL_TOLERANCE[type]!);
    }
  });
});

describe('non-finite F16 weights are refused at load time', () => {
  const backends = useBackends('2 threads');
  it.each([['Inf', 0x7c00], ['-Inf', 0xfc00], ['NaN', 0x7e00]])('%s', (_label, bits) => {
    const cpu = backends.get('2 threads')!;
    const bytes = encodeTensor(GgmlType.F16, gaussian(19 * 160, 7, 0.05));
    bytes[2 * 1000] = bits & 0xff;
    bytes[2 * 1000 + 1] = bits >> 8;
    expect(() => cpu.createWeight('blk.0.ffn_up.weight', { shape: [19, 160], type: GgmlType.F16, bytes }))
      .toThrow(/tensor blk\.0\.ffn_up\.weight: contains a float16 Inf or NaN/);
  });
});

describe('matmuls: several weights on one x', () => {
  const backends = useBackends();
  it.each(CONFIGS.map((c) => [c.label]))('%s: equal to one matmul each (fused or not), for mixed types', async (label) => {
    const cpu = backends.get(label)!;
    const cols = 512;
    const specs: [GgmlType, number][] = [[GgmlType.Q4_0, 70], [GgmlType.Q6_K, 33], [GgmlType.Q8_0, 16], [GgmlType.F16, 9]];
    for (const pick of [[0, 1, 2], [2, 0], [0, 3], [1]]) {
      const ws = pick.map((i, k) => cpu.createWeight(`w${k}`, { shape: [specs[i][1], cols], type: specs[i][0], bytes: encodeTensor(specs[i][0], gaussian(specs[i][1] * cols, 40 + i, 0.05)) }));
      for (const n of [1, 3]) {
        const x = cpu.createTensor(n, cols);
        cpu.write(x, gaussian(n * cols, 50 + n));
        const fused = ws.map((w) => cpu.createTensor(n, w.shape[0]));
        cpu.matmuls(x, n, ws.map((w, k) => ({ out: fused[k], w })));
        for (let k = 0; k < ws.length; k++) {
          const one = cpu.createTensor(n, ws[k].shape[0]);
          cpu.matmul(one, x, ws[k], n);
          expect(Array.from(await cpu.read(fused[k])), `weights ${pick.join(',')}, #${k}, ${n} rows`).toEqual(Array.from(await cpu.read(one)));
          cpu.freeTensor(one);
        }
        for (const t of fused) cpu.freeTensor(t);
        cpu.freeTensor(x);
      }
    }
  });
});

describe('F16 matvec with activations too large to prescale', () => {
  const backends = useBackends('2 threads');
  it('takes the per-weight scaling path and matches the reference', async () => {
    const cpu = backends.get('2 threads')!;
    const [rows, cols] = [37, 160];
    const bytes = encodeTensor(GgmlType.F16, gaussian(rows * cols, 11, 0.05));
    const wc = cpu.createWeight('w', { shape: [rows, cols], type: GgmlType.F16, bytes });
    const wr = ref.createWeight('w', { shape: [rows, cols], type: GgmlType.F16, bytes });
    // These weights are rescaled by 2^10 at load, so the kernel's factor is 2^102 ≈ 5e30: with
    // |x| up to ~3e6 the prescaled copy would pass 1e36, which prescale (assembly/fdot.ts) refuses.
    const [e] = await errorsAgainstRef(cpu, wc, wr, gaussian(cols, 12, 1e6), [1]);
    expect(e).toBeLessThanOrEqual(MATMUL_TOLERANCE[GgmlType.F16]!);
  });
});
