/**
 * Kernel benchmark of the CPU backend (not a test): matvec (one token) and GEMM (a batch of
 * tokens) at Gemma-2B shapes, per weight type, on 1 and 2 threads. Weights are random but valid
 * blocks, tiled from a 4 MiB pattern. Matvecs cycle through enough copies of the weight to
 * span 1 GiB, so they read DRAM as a model's decode step does (this machine's L3 is large
 * enough to hold a single 2B matrix); GEMMs reuse one copy (they are compute-bound). A plain
 * streaming read of 1 GiB gives the memory roof. Thread counts alternate round by round (the
 * machine's clock and neighbours swing); medians are reported.
 *
 *   npx tsx bench/cpu.ts [--types F16,Q8_0,Q4_0] [--threads 1,2] [--batch 64] [--rounds 5] [--no-gemm]
 *     [--shapes 2048x2048,16384x2048] [--simd baseline] [--in-cache]
 *
 * GB/s counts weight bytes streamed per matvec; GFLOP/s counts 2·batch·rows·cols per GEMM.
 */
import type { Arena } from '../src/backend/cpu/arena.js';
import { createCpuBackend } from '../src/backend/cpu/index.js';
import type { Pool } from '../src/backend/cpu/pool.js';
import type { Backend, Tensor, Weight } from '../src/backend/types.js';
import { GgmlType, GGML_TYPE_INFO } from '../src/formats/ggml-types.js';
import { encodeTensor } from '../src/model/export.js';
import { fillGaussian } from '../src/model/random.js';
import { Rng } from '../src/sampling/rng.js';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const types = arg('types', 'F16,Q8_0,Q4_0').split(',').map((n) => GgmlType[n as keyof typeof GgmlType]);
const threadCounts = arg('threads', '1,2').split(',').map(Number);
const batch = Number(arg('batch', '64'));
const rounds = Number(arg('rounds', '5'));
const gemm = !process.argv.includes('--no-gemm');
/** One copy of each weight: matvecs then run from cache (the kernels' compute speed). */
const inCache = process.argv.includes('--in-cache');
const simd = arg('simd', 'auto') as 'auto' | 'baseline';
const SHAPES = arg('shapes', '2048x2048,16384x2048,2048x16384,256000x2048').split(',')
  .map((s) => s.split('x').map(Number) as [number, number]);

function randomWeightBytes(type: GgmlType, rows: number, cols: number): Uint8Array {
  const info = GGML_TYPE_INFO[type];
  const rowBytes = (cols / info.blockSize) * info.typeSize;
  const patternRows = Math.max(1, Math.min(rows, Math.floor((4 << 20) / rowBytes)));
  const x = new Float32Array(patternRows * cols);
  fillGaussian(x, new Rng(1), 0.02);
  if (process.env.NODENORM) for (let i = 0; i < x.length; i++) if (Math.abs(x[i]) < 1e-4) x[i] = 1e-4;
  const pattern = encodeTensor(type, x);
  const out = new Uint8Array(rows * rowBytes);
  for (let r = 0; r < rows; r += patternRows) out.set(pattern.subarray(0, Math.min(patternRows, rows - r) * rowBytes), r * rowBytes);
  return out;
}

/** Median milliseconds of `fn`, repeated within each sample until it has run ≥ 20 ms. */
function time(fn: () => void, reps: number): number {
  const t = performance.now();
  for (let i = 0; i < reps; i++) fn();
  return (performance.now() - t) / reps;
}

function reps(fn: () => void): number {
  const once = time(fn, 1);
  return Math.max(1, Math.ceil(20 / Math.max(once, 1e-3)));
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

/** Fresh backends per measurement: weights cannot be freed one by one, only with their backend. */
async function makeBackends(): Promise<Backend[]> {
  const out: Backend[] = [];
  for (const t of threadCounts) out.push(await createCpuBackend({ threads: t, simd }));
  return out;
}
let backends = await makeBackends();
console.log(`kernels: ${(backends[0] as unknown as { simd: string }).simd} SIMD; GEMM batch ${batch}; ${rounds} rounds, medians`);

/** The memory roof: a streaming read of 1 GiB with the backend's threads (internals, bench only). */
function roof(): string[] {
  const GIB = 2 ** 30;
  const probes = backends.map((b) => {
    const arena = (b as unknown as { arenas: { main: Arena } }).arenas.main;
    const pool = (b as unknown as { pool: Pool }).pool;
    const ptr = arena.alloc(GIB);
    arena.u8.fill(1, ptr, ptr + GIB);
    return { b, run: () => { arena.args([ptr, GIB]); pool.run(arena, 'stream', true); }, t: [] as number[], free: () => arena.free(ptr) };
  });
  for (let r = 0; r < rounds; r++) for (const p of probes) p.t.push(time(p.run, 1));
  return probes.map((p) => { p.free(); return `${p.b.threads} thread(s) ${(GIB / median(p.t) / 1e6).toFixed(1)} GB/s`; });
}
console.log(`memory roof (streaming read of 1 GiB): ${roof().join(', ')}`);
for (const b of backends) await b.dispose();
console.log('type  shape            thr  matvec ms   GB/s   GEMM ms  GFLOP/s');

for (const type of types) {
  for (const [rows, cols] of SHAPES) {
    const bytes = randomWeightBytes(type, rows, cols);
    const xData = new Float32Array(batch * cols);
    fillGaussian(xData, new Rng(2), 1);
    const copies = inCache ? 1 : Math.min(256, Math.ceil(2 ** 30 / bytes.byteLength));
    backends = await makeBackends();
    const setups = backends.map((b) => {
      const ws: Weight[] = Array.from({ length: copies }, () => b.createWeight('w', { shape: [rows, cols], type, bytes }));
      const w = ws[0];
      const x: Tensor = b.createTensor(batch, cols);
      b.write(x, xData);
      const out: Tensor = b.createTensor(batch, rows);
      let next = 0;
      const mv = () => b.matmul(out, x, ws[next++ % copies], 1);
      const mm = () => b.matmul(out, x, w, batch);
      return { b, x, out, mv, mm, mvReps: reps(mv), mmReps: gemm ? reps(mm) : 0, tMv: [] as number[], tMm: [] as number[] };
    });
    for (let r = 0; r < rounds; r++) {
      for (const s of setups) {
        s.tMv.push(time(s.mv, s.mvReps));
        if (gemm) s.tMm.push(time(s.mm, s.mmReps));
      }
    }
    for (const s of setups) {
      const mv = median(s.tMv), mm = gemm ? median(s.tMm) : NaN;
      const gbs = bytes.byteLength / mv / 1e6, gflops = (2 * batch * rows * cols) / mm / 1e6;
      console.log(`${GgmlType[type].padEnd(5)} ${`${rows}×${cols}`.padEnd(16)} ${String(s.b.threads).padStart(3)} ${mv.toFixed(3).padStart(10)} ${gbs.toFixed(1).padStart(6)} ${gemm ? mm.toFixed(1).padStart(9) : '        -'} ${gemm ? gflops.toFixed(1).padStart(8) : '       -'}`);
    }
    for (const b of backends) await b.dispose();
  }
}
