/**
 * Loads the compiled kernels (built from assembly/ by scripts/build-wasm.mjs into ./wasm/ next
 * to this module, in src/ and in dist/ alike) and picks the relaxed-SIMD build when the runtime
 * accepts it.
 */
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';
import { GemmaError } from '../../errors.js';
import { Wasm, type WasmModule } from './wasm-api.js';

export type SimdLevel = 'relaxed' | 'baseline';

export interface KernelModule {
  readonly module: WasmModule;
  readonly simd: SimdLevel;
}

const cache = new Map<SimdLevel, KernelModule>();
let flagsSet = false;

function bytes(file: string): Uint8Array {
  const url = new URL(`./wasm/${file}`, import.meta.url);
  try {
    return readFileSync(url);
  } catch (e) {
    throw new GemmaError(`the CPU backend's kernels are missing (${url.pathname}): run \`npm run build\` (${(e as Error).message})`);
  }
}

/**
 * Sets the V8 flags the kernels need, once per process, before any module is compiled (`relaxed`:
 * a module using relaxed SIMD, to test whether the runtime already has it).
 */
export function setFlags(relaxed: Uint8Array): void {
  if (flagsSet) return;
  flagsSet = true;
  // Node 20 (V8 11.3) has relaxed SIMD behind a flag; later versions ship it. Flags must be set
  // before the module is compiled; worker threads share them.
  if (!Wasm.validate(relaxed)) v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  // V8 cannot replace a running wasm function with its optimized code (no on-stack
  // replacement), so a long first call would run at baseline-compiler (Liftoff) speed, about
  // half; compile every function with the optimizing compiler up front instead. Process-wide.
  v8.setFlagsFromString('--no-liftoff');
}

/** The kernel module: relaxed SIMD unless `want` is 'baseline' or the runtime lacks it. */
export function loadKernels(want: 'auto' | SimdLevel = 'auto'): KernelModule {
  const relaxed = bytes('kernels-relaxed.wasm');
  setFlags(relaxed);
  const simd: SimdLevel = want !== 'baseline' && Wasm.validate(relaxed) ? 'relaxed' : 'baseline';
  if (want === 'relaxed' && simd !== 'relaxed') throw new GemmaError('this runtime does not support relaxed SIMD');
  let k = cache.get(simd);
  if (!k) {
    const b = simd === 'relaxed' ? relaxed : bytes('kernels-simd.wasm');
    if (!Wasm.validate(b)) throw new GemmaError('this runtime does not support WebAssembly SIMD, which the CPU backend needs');
    k = { module: new Wasm.Module(b), simd };
    cache.set(simd, k);
  }
  return k;
}
