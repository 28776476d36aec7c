import { describe, expect, it } from 'vitest';
import { RefBackend } from '../../src/backend/ref/ref-backend.js';
import type { Backend, Tensor } from '../../src/backend/types.js';
import { GgmlType } from '../../src/formats/ggml-types.js';
import { encodeTensor } from '../../src/model/export.js';
import { CONFIGS, gaussian, nerr, useBackends } from './helpers.js';
import { OP_TOLERANCE } from './tolerances.js';
import { createCpuBackend } from '../../src/backend/cpu/index.js';

const ref = new RefBackend();

function both(cpu: Backend, rows: number, cols: number, data?: Float32Array): [Tensor, Tensor] {
  const a = cpu.createTensor(rows, cols), b = ref.createTensor(rows, cols);
  if (data) { cpu.write(a, data); ref.write(b, data); }
  return [a, b];
}

async function check(cpu: Backend, a: Tensor, b: Tensor, tol: number, rows?: number): Promise<number> {
  const x = await cpu.read(a, 0, rows), y = await ref.read(b, 0, rows);
  const e = nerr(x, y);
  expect(e).toBeLessThanOrEqual(tol);
  return e;
}

const EMBED_TYPES = [GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1,
  GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K];

describe.each(CONFIGS)('cpu backend ops ($label)', ({ label }) => {
  const backends = useBackends(label);
  const cpu = () => backends.get(label)!;

  it('add, in place and not, odd sizes', async () => {
    for (const [rows, cols] of [[3, 7], [5, 2048], [2, 16384]]) {
      const [a, a2] = both(cpu(), rows, cols, gaussian(rows * cols, 1));
      const [b, b2] = both(cpu(), rows, cols, gaussian(rows * cols, 2));
      const [o, o2] = both(cpu(), rows, cols);
      cpu().add(o, a, b, rows - 1); ref.add(o2, a2, b2, rows - 1);
      await check(cpu(), o, o2, OP_TOLERANCE.add);
      cpu().add(a, a, b, rows); ref.add(a2, a2, b2, rows);
      await check(cpu(), a, a2, OP_TOLERANCE.add);
    }
  });

  it('geluMul over a wide range of gate values', async () => {
    for (const [rows, cols] of [[3, 37], [2, 16384]]) {
      const g = gaussian(rows * cols, 3, 4);
      g[0] = -30; g[1] = 30; g[2] = -9; g[3] = 0;
      const [gt, gt2] = both(cpu(), rows, cols, g);
      const [u, u2] = both(cpu(), rows, cols, gaussian(rows * cols, 4));
      cpu().geluMul(gt, gt, u, rows); ref.geluMul(gt2, gt2, u2, rows);
      await check(cpu(), gt, gt2, OP_TOLERANCE.geluMul);
    }
  });

  it('rmsNorm, in place and not', async () => {
    for (const [rows, cols] of [[3, 2048], [7, 13]]) {
      const [x, x2] = both(cpu(), rows, cols, gaussian(rows * cols, 5, 3));
      const [w, w2] = both(cpu(), 1, cols, gaussian(cols, 6));
      const [o, o2] = both(cpu(), rows, cols);
      cpu().rmsNorm(o, x, w, 1e-6, rows); ref.rmsNorm(o2, x2, w2, 1e-6, rows);
      await check(cpu(), o, o2, OP_TOLERANCE.rmsNorm);
      cpu().rmsNorm(x, x, w, 1e-5, rows - 1); ref.rmsNorm(x2, x2, w2, 1e-5, rows - 1);
      await check(cpu(), x, x2, OP_TOLERANCE.rmsNorm);
    }
  });

  it('rope at near and far positions', async () => {
    for (const [rows, heads, hd] of [[5, 3, 16], [4, 8, 256], [2, 1, 6]]) {
      const [x, x2] = both(cpu(), rows, heads * hd, gaussian(rows * heads * hd, 7));
      const pos = Int32Array.from({ length: rows }, (_, i) => (i * 2039) % 8192);
      cpu().rope(x, rows, heads, hd, pos, 10000); ref.rope(x2, rows, heads, hd, pos, 10000);
      await check(cpu(), x, x2, OP_TOLERANCE.rope);
    }
  });

  it('attention: MQA, GQA, MHA; one and several query rows; with and without history; row offset', async () => {
    const cases: { n: number; startPos: number; numHeads: number; numKvHeads: number; headDim: number; rowOffset?: number }[] = [
      { n: 1, startPos: 0, numHeads: 8, numKvHeads: 1, headDim: 256 },
      { n: 1, startPos: 11, numHeads: 8, numKvHeads: 1, headDim: 256 },
      { n: 6, startPos: 3, numHeads: 6, numKvHeads: 2, headDim: 16 },
      { n: 5, startPos: 0, numHeads: 4, numKvHeads: 4, headDim: 20 },
      { n: 3, startPos: 40, numHeads: 5, numKvHeads: 1, headDim: 8 },
      { n: 2, startPos: 5, numHeads: 8, numKvHeads: 1, headDim: 32, rowOffset: 3 },
    ];
    for (const c of cases) {
      const len = c.startPos + c.n, qc = c.numHeads * c.headDim, kc = c.numKvHeads * c.headDim;
      const qRows = c.n + 1 + (c.rowOffset ?? 0);
      const [q, q2] = both(cpu(), qRows, qc, gaussian(qRows * qc, 8, 2));
      const [k, k2] = both(cpu(), len + 3, kc, gaussian((len + 3) * kc, 9, 2));
      const [v, v2] = both(cpu(), len + 3, kc, gaussian((len + 3) * kc, 10));
      const [o, o2] = both(cpu(), qRows, qc);
      const p = { ...c, scale: 1 / Math.sqrt(c.headDim) };
      cpu().attention(o, q, k, v, p); ref.attention(o2, q2, k2, v2, p);
      await check(cpu(), o, o2, OP_TOLERANCE.attention);
    }
  });

  it('copyRows', async () => {
    const [a, a2] = both(cpu(), 9, 33, gaussian(9 * 33, 11));
    const [b, b2] = both(cpu(), 12, 33);
    cpu().copyRows(b, 4, a, 2, 5); ref.copyRows(b2, 4, a2, 2, 5);
    await check(cpu(), b, b2, OP_TOLERANCE.copy);
  });

  it.each(EMBED_TYPES)('embed, weight type %s', async (type) => {
    const cols = type >= GgmlType.Q4_K && type <= GgmlType.Q6_K ? 512 : 160;
    const rows = 37;
    const bytes = encodeTensor(type, gaussian(rows * cols, 12));
    const w = cpu().createWeight('emb', { shape: [rows, cols], type, bytes });
    const w2 = ref.createWeight('emb', { shape: [rows, cols], type, bytes });
    const ids = Int32Array.from([0, 36, 5, 5, 17, 35, 1]);
    const [o, o2] = both(cpu(), ids.length, cols);
    cpu().embed(o, w, ids, 8); ref.embed(o2, w2, ids, 8);
    await check(cpu(), o, o2, OP_TOLERANCE.embed);
    expect(() => cpu().embed(o, w, Int32Array.from([37]), 1)).toThrow(/outside the vocabulary/);
  });
});

describe('cpu backend lifecycle', () => {
  it('rejects bad options, freed tensors and use after dispose', async () => {
    await expect(createCpuBackend({ threads: 0 })).rejects.toThrow(/threads/);
    const cpu = await createCpuBackend({ threads: 2 });
    expect(cpu.threads).toBe(2);
    const t = cpu.createTensor(2, 3);
    cpu.freeTensor(t);
    expect(() => cpu.add(t, t, t, 1)).toThrow(/after free/);
    await cpu.dispose();
    expect(() => cpu.createTensor(1, 1)).toThrow(/disposed/);
  });
});

describe('cpu backend with operands in different memories', () => {
  it('attention moves a layer\'s V cache next to its K cache, and still matches', async () => {
    const cpu = await createCpuBackend({ threads: 2, minParallelWork: 0, arenaBytes: 1 << 20 });
    const arenaOf = (t: Tensor) => (t as unknown as { arena: { id: number } }).arena.id;
    const c = { n: 3, startPos: 4, numHeads: 4, numKvHeads: 1, headDim: 32 };
    const len = c.startPos + c.n, qc = c.numHeads * c.headDim, kc = c.numKvHeads * c.headDim;
    const [k, k2] = both(cpu, 64, kc, gaussian(64 * kc, 9, 2));
    // Fill the first memory so that V lands in the next one.
    while (arenaOf(cpu.createTensor(64, kc)) === arenaOf(k));
    const [v, v2] = both(cpu, 64, kc, gaussian(64 * kc, 10));
    expect(arenaOf(v)).not.toBe(arenaOf(k));
    const [q, q2] = both(cpu, c.n, qc, gaussian(c.n * qc, 8, 2));
    const [o, o2] = both(cpu, c.n, qc);
    const p = { ...c, scale: 1 / Math.sqrt(c.headDim) };
    cpu.attention(o, q, k, v, p); ref.attention(o2, q2, k2, v2, p);
    expect(arenaOf(v)).toBe(arenaOf(k));
    expect(nerr(await cpu.read(o), await ref.read(o2))).toBeLessThanOrEqual(OP_TOLERANCE.attention);
    expect(nerr(await cpu.read(v), await ref.read(v2))).toBe(0);
    await cpu.dispose();
  });
});
