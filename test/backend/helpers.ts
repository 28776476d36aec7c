import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createCpuBackend, type CpuBackendOptions } from '../../src/backend/cpu/index.js';
import type { Backend } from '../../src/backend/types.js';
import { fillGaussian } from '../../src/model/random.js';
import { Rng } from '../../src/sampling/rng.js';

/** Backends every parity test runs on: 1 and 2 threads, relaxed and baseline SIMD kernels. */
export const CONFIGS: { label: string; o: CpuBackendOptions }[] = [
  { label: '1 thread', o: { threads: 1 } },
  { label: '2 threads', o: { threads: 2, minParallelWork: 0 } },
  { label: '2 threads, baseline SIMD', o: { threads: 2, simd: 'baseline', minParallelWork: 0 } },
  // Memories of 1 MiB instead of 4 GiB: weights split into row shards across memories and ops
  // with operands in different memories, as a model larger than 4 GiB has.
  { label: '2 threads, 1 MiB memories', o: { threads: 2, minParallelWork: 0, arenaBytes: 1 << 20 } },
];

/** Rebuilds the kernels if assembly/ changed since the last build (a no-op otherwise). */
export function buildKernels(): void {
  execFileSync(process.execPath, [path.resolve(__dirname, '../../scripts/build-wasm.mjs')], { stdio: 'pipe' });
}

/** Creates the CONFIGS backends before the file's tests and disposes of them after. */
export function useBackends(only?: string): Map<string, Backend> {
  const m = new Map<string, Backend>();
  beforeAll(async () => {
    buildKernels();
    for (const c of CONFIGS) if (!only || c.label === only) m.set(c.label, await createCpuBackend(c.o));
  });
  afterAll(async () => {
    for (const b of m.values()) await b.dispose();
  });
  return m;
}

export function gaussian(n: number, seed: number, std = 1): Float32Array {
  const x = new Float32Array(n);
  fillGaussian(x, new Rng(seed), std);
  return x;
}

/** ‖a − b‖₂ / ‖b‖₂ (0 when both are zero). */
export function nerr(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    num += d * d;
    den += b[i] * b[i];
    if (Number.isNaN(a[i]) !== Number.isNaN(b[i])) return Infinity;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}
