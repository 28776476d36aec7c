/**
 * The CPU backend: WebAssembly SIMD kernels on worker threads (design notes in backend.ts).
 * Node only (worker_threads, shared WebAssembly memory).
 */
import os from 'node:os';
import { GemmaError } from '../../errors.js';
import type { Backend } from '../types.js';
import { MAX_BYTES, MAX_THREADS } from './arena.js';
import { CpuBackend } from './backend.js';
import { loadKernels } from './wasm.js';

export interface CpuBackendOptions {
  /** Threads computing each op, the calling thread included (default: os.availableParallelism()). */
  threads?: number;
  /** Kernel build: 'auto' picks relaxed SIMD when the runtime has it; 'baseline' forces plain SIMD. */
  simd?: 'auto' | 'relaxed' | 'baseline';
  /** Ops smaller than this many float32 elements run on the calling thread alone (tests use 0). */
  minParallelWork?: number;
  /** Bytes per WebAssembly memory (default 4 GiB); tests use small ones to exercise multi-memory models. */
  arenaBytes?: number;
}

export async function createCpuBackend(o: CpuBackendOptions = {}): Promise<Backend> {
  const threads = o.threads ?? os.availableParallelism();
  if (!(Number.isInteger(threads) && threads >= 1 && threads <= MAX_THREADS)) {
    throw new GemmaError(`threads must be an integer from 1 to ${MAX_THREADS}, got ${threads}`);
  }
  const arenaBytes = o.arenaBytes ?? MAX_BYTES;
  if (!(Number.isInteger(arenaBytes) && arenaBytes >= 1 << 20 && arenaBytes <= MAX_BYTES)) {
    throw new GemmaError(`arenaBytes must be an integer from 1 MiB to 4 GiB, got ${arenaBytes}`);
  }
  return CpuBackend.create(loadKernels(o.simd ?? 'auto'), threads, o.minParallelWork, arenaBytes);
}

export { CpuBackend };
