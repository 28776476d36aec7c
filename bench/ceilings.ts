/**
 * Ceilings of WebAssembly 128-bit SIMD on this machine (not a test): how fast any WebAssembly
 * kernel could possibly go, measured, and what that implies for a Gemma-2B-shaped model.
 *
 * 1. Peak multiply-add rate with operands in registers (no memory traffic), on 1 thread and on
 *    2 threads at once (worker_threads, aggregate): int8 `i16x8.relaxed_dot_i8x16_i7x16_s` +
 *    `i16x8.add` (16 multiply-adds per dot), int16 `i32x4.dot_i16x8_s` + `i32x4.add` (8),
 *    f32 `f32x4.relaxed_madd` (4), and int8 in baseline SIMD (`i16x8.extmul_low/high_i8x16_s`
 *    + `i16x8.add`, for runtimes without relaxed SIMD). 8 independent accumulators each.
 * 2. The streaming-read roof: a sum over 1 GiB of shared WebAssembly memory (touched first, so
 *    no page fault is timed), as 1, 2, 4 or 8 interleaved sequential streams per thread, on
 *    1 thread (all of it) and 2 threads (each its own half).
 * 3. The ceilings these imply for Gemma 2B (18 layers, hidden 2048, 8 query heads and 1 KV head
 *    of 256, FFN 16384, vocabulary 256000, tied output head): decode reads every weight matrix
 *    once per token, head included, so decode tok/s ≤ best 2-thread roof / weight bytes per
 *    token (Q4_0: 18 bytes per 32 weights, Q8_0: 34); a prompt token costs the layers' matmul
 *    multiply-adds (the head runs once per prompt; attention scores, < 1% at 512 tokens, are
 *    left out), so prompt tok/s ≤ 2-thread peak MAC rate / MACs per token, per number format
 *    (int8 is what the Q4_0 kernels use).
 *
 *   npx tsx bench/ceilings.ts [--rounds 7] [--seconds 0.25] [--gib 1]
 *     [--llama "Q4_0:107.5,114.4,15.5;Q8_0:103.5,116.8,9.4"]
 *
 * --seconds is the length of one peak-rate sample; --llama gives llama.cpp's tok/s per type
 * (prompt 128, prompt 512, decode; `npm run bench` measures them) to print the ceilings as
 * ratios of it. GMAC/s counts multiply-adds (GFLOP/s = 2 × GMAC/s); GB/s is 10⁹ bytes per second.
 * Thread counts alternate round by round (the machine is noisy); medians are reported. The peak
 * rates include each kernel's accumulating add (a real kernel needs it too) and, in the integer
 * kernels, one operand update per 8 multiplies (bench/ceilings-kernels.ts says why; the operands
 * are written into memory here and loaded once before the loop), and nothing else: no loads, no
 * unpacking, no scales. They bound a kernel from above; they are not what one reaches.
 */
import { cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import asc from 'assemblyscript/asc';
import { Wasm } from '../src/backend/cpu/wasm-api.js';
import { setFlags } from '../src/backend/cpu/wasm.js';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const rounds = Number(arg('rounds', '7'));
const seconds = Number(arg('seconds', '0.25'));
const bytes = Math.round(Number(arg('gib', '1')) * 4) * 2 ** 28; // a multiple of 2 × 8 streams × 64 B
const llama = new Map(arg('llama', '').split(';').filter(Boolean).map((s) => {
  const [type, figures] = s.split(':');
  return [type.trim(), figures.split(',').map(Number)] as const; // prompt 128, prompt 512, decode
}));
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

// Compile the kernels in memory with the project's flags (scripts/build-wasm.mjs).
const out: Record<string, Uint8Array | string> = {};
const built = await asc.main([
  path.join(path.dirname(fileURLToPath(import.meta.url)), 'ceilings-kernels.ts'), '--outFile', 'ceilings.wasm',
  '-O3', '--noAssert', '--runtime', 'stub', '--use', 'abort=',
  '--importMemory', '--sharedMemory', '--initialMemory', '1', '--maximumMemory', '65536', '--noExportMemory',
  '--enable', 'simd,threads,relaxed-simd',
], { writeFile: (name, contents) => { out[name] = contents; } });
if (built.error) {
  process.stderr.write(built.stderr.toString());
  throw built.error;
}
const wasm = out['ceilings.wasm'] as Uint8Array;
// The CPU backend's V8 flags (relaxed SIMD, optimizing compiler up front); the workers started
// below inherit them.
setFlags(wasm);
if (!Wasm.validate(wasm)) throw new Error('this runtime does not support relaxed SIMD');
const module = new Wasm.Module(wasm);

// The memory: the peak kernels' operands in the first 64 KiB (the module keeps no data there),
// the streamed bytes after it, touched now.
const BASE = 1 << 16, P_INT = 1024, P_F32 = 2048;
const memory = new Wasm.Memory({ initial: (BASE + bytes) / 65536, maximum: (BASE + bytes) / 65536, shared: true });
const u8 = new Uint8Array(memory.buffer);
u8.fill(1, BASE, BASE + bytes);
// Integer operands: bytes in 0..127 (valid for relaxed_dot's 7-bit operand). Float: y = z = 2⁻¹⁰
// and accumulators starting at 1…8 (see peakF32).
for (let i = 0; i < 96; i++) u8[P_INT + i] = (3 + 37 * i) % 128;
const f32 = new Float32Array(memory.buffer, P_F32, 40).fill(2 ** -10, 0, 8);
for (let k = 0; k < 8; k++) f32.fill(1 + k, 8 + 4 * k, 12 + 4 * k);

// Two workers, each waiting on its own counter; the main thread sets the op and each thread's
// arguments, bumps the counters of the threads that take part, and sleeps until they are done.
// ctrl: [t] thread t's counter, [2] threads done, [3] op (-1: exit), [4 + 3·t ...] thread t's args.
const OPS = ['peakI8', 'peakI16', 'peakF32', 'peakI8Baseline', 'read'];
const ctrl = new Int32Array(new SharedArrayBuffer(64));
const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const { module, memory, sab, tid, ops } = workerData;
const k = new WebAssembly.Instance(module, { env: { memory } }).exports;
const ctrl = new Int32Array(sab);
let gen = 0;
parentPort.postMessage('ready');
for (;;) {
  Atomics.wait(ctrl, tid, gen);
  gen = Atomics.load(ctrl, tid);
  if (ctrl[3] < 0) break;
  const a = 4 + 3 * tid;
  ctrl[14 + tid] ^= k[ops[ctrl[3]]](ctrl[a], ctrl[a + 1], ctrl[a + 2]); // the result, kept
  Atomics.add(ctrl, 2, 1);
  Atomics.notify(ctrl, 2);
}`;
const workers = [0, 1].map((tid) => new Worker(WORKER, { eval: true, workerData: { module, memory, sab: ctrl.buffer, tid, ops: OPS } }));
await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))));

/** Runs `op` on `threads` threads at once; args(t) gives thread t's; returns wall seconds. */
function run(op: string, threads: number, args: (t: number) => number[]): number {
  for (let t = 0; t < threads; t++) ctrl.set(args(t), 4 + 3 * t);
  ctrl[3] = OPS.indexOf(op);
  Atomics.store(ctrl, 2, 0);
  const t0 = performance.now();
  for (let t = 0; t < threads; t++) { Atomics.add(ctrl, t, 1); Atomics.notify(ctrl, t); }
  for (let d; (d = Atomics.load(ctrl, 2)) < threads;) Atomics.wait(ctrl, 2, d);
  return (performance.now() - t0) / 1e3;
}

const THREADS = [1, 2];
interface Probe { label: string; run: (threads: number) => number; times: Map<number, number[]> }
const probes: Probe[] = [];

// Peak rates: iterations per sample calibrated on one thread to last `seconds`.
const PEAKS = [
  { op: 'peakI8', at: P_INT, macs: 128, label: 'int8  i16x8.relaxed_dot_i8x16_i7x16_s + i16x8.add' },
  { op: 'peakI16', at: P_INT, macs: 64, label: 'int16 i32x4.dot_i16x8_s + i32x4.add' },
  { op: 'peakF32', at: P_F32, macs: 32, label: 'f32   f32x4.relaxed_madd' },
  { op: 'peakI8Baseline', at: P_INT, macs: 64, label: 'int8  i16x8.extmul_low/high_i8x16_s + i16x8.add (baseline SIMD)' },
];
for (const p of PEAKS) {
  run(p.op, 1, () => [1 << 20, p.at]);
  const n = Math.ceil((1 << 22) * seconds / run(p.op, 1, () => [1 << 22, p.at]));
  probes.push({ label: p.label, times: new Map(), run: (t) => (t * n * p.macs) / run(p.op, t, () => [n, p.at]) / 1e9 });
}
// The roof: thread t reads its own part of the memory as `s` streams.
for (const s of [1, 2, 4, 8]) {
  probes.push({
    label: `${s} stream${s > 1 ? 's' : ''} per thread`, times: new Map(),
    run: (t) => bytes / run('read', t, (i) => [BASE + (i * bytes) / t, bytes / t, s]) / 1e9,
  });
}
run('read', 2, (i) => [BASE + (i * bytes) / 2, bytes / 2, 4]); // warm-up

for (let r = 0; r < rounds; r++) {
  const order = r % 2 ? [...THREADS].reverse() : THREADS;
  for (const p of probes) for (const t of order) p.times.set(t, [...(p.times.get(t) ?? []), p.run(t)]);
}
ctrl[3] = -1;
for (let t = 0; t < 2; t++) { Atomics.add(ctrl, t, 1); Atomics.notify(ctrl, t); }

const rate = (p: Probe, t: number) => median(p.times.get(t) ?? [NaN]);
const col = (x: number, w = 9) => (Number.isFinite(x) ? x.toFixed(1) : '-').padStart(w);
console.log(`WebAssembly SIMD ceilings: ${cpus().length} × ${cpus()[0]?.model}, Node ${process.version}, ${rounds} rounds, medians`);
const table = (title: string, rows: Probe[]) => {
  console.log(`\n${title.padEnd(68)}  1 thread  2 threads`);
  for (const p of rows) console.log(`  ${p.label.padEnd(66)} ${col(rate(p, 1))}  ${col(rate(p, 2))}`);
};
table('peak multiply-adds, operands in registers (GMAC/s)', probes.slice(0, PEAKS.length));
table(`streaming read of ${bytes / 2 ** 30} GiB (GB/s)`, probes.slice(PEAKS.length));

// Gemma 2B: per layer q (2048×2048), k and v (256×2048 each), o (2048×2048), gate and up
// (16384×2048 each), down (2048×16384); the tied head 256000×2048.
const H = 2048, LAYERS = 18, layerWeights = H * H + 2 * 256 * H + H * H + 3 * 16384 * H;
const headWeights = 256000 * H, decodeWeights = LAYERS * layerWeights + headWeights, promptMacs = LAYERS * layerWeights;
const roofs = probes.slice(PEAKS.length);
const roof = roofs.reduce((b, p) => (rate(p, 2) > rate(b, 2) ? p : b));
const ratio = (x: number, y: number | undefined) => (y ? `${(x / y).toFixed(2)}×` : '-').padStart(7);
console.log(`\nGemma 2B: ${(decodeWeights / 1e9).toFixed(3)}e9 matrix weights read per decoded token (head included), ` +
  `${(promptMacs / 1e9).toFixed(3)}e9 MACs per prompt token (layers only)`);
console.log(`decode ceiling = best 2-thread roof ${rate(roof, 2).toFixed(1)} GB/s (${roof.label}) / bytes per token`);
console.log('  type   GB/token   tok/s   llama.cpp   ceiling/llama.cpp');
for (const [type, perBlock] of [['Q4_0', 18], ['Q8_0', 34]] as const) {
  const gb = (decodeWeights * perBlock) / 32 / 1e9, tok = rate(roof, 2) / gb, l = llama.get(type)?.[2];
  console.log(`  ${type}   ${gb.toFixed(3).padStart(8)} ${col(tok, 7)} ${col(l ?? NaN, 11)}   ${ratio(tok, l)}`);
}
console.log('prompt ceiling = 2-thread peak / MACs per token');
const types = [...llama.keys()];
console.log(`  format          GMAC/s   tok/s${types.map((t) => `  ${t} 128 / 512`.padEnd(19)).join('')}`);
for (const [i, name] of ['int8', 'int16', 'f32', 'int8 baseline'].entries()) {
  const peak = rate(probes[i], 2), tok = (peak * 1e9) / promptMacs;
  const vs = types.map((t) => `  ${ratio(tok, llama.get(t)?.[0])} / ${ratio(tok, llama.get(t)?.[1]).trim()}`.padEnd(19)).join('');
  console.log(`  ${name.padEnd(14)} ${col(peak, 7)} ${col(tok, 7)}${vs}`);
}
await Promise.all(workers.map((w) => new Promise((resolve) => w.once('exit', resolve))));
