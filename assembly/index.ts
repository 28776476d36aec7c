// Kernel entry points. Every export takes (thread id, thread count); the host writes the
// arguments into the control area of this memory (sync.ts) and calls the export on every
// thread at once. Kernels know nothing about Gemma.

import { iarg, parg } from './sync';
import { repack as repackRows, f16MaxBits, f16Rescale } from './quantize';
import { initConsts } from './dot';
import { streamSum } from './ops';

export { matmulFloat, matmulQuant } from './matmul';
export { embed, rmsNorm, rope, geluMul, add, attention } from './ops';

/** Load-time repacking into row quads. Args: layout (Q4_0R4, Q8_0R4, Q4_KR4, Q5_KR4: dequant.ts), src, dst, rows, K. */
export function repack(tid: i32, nt: i32): void {
  repackRows(tid, nt, iarg(0), parg(1), parg(2), iarg(3), iarg(4));
}

/** Writes the kernels' constants into this memory's control area; the host calls it once per memory. */
export function init(tid: i32, nt: i32): void {
  initConsts();
}

/** Largest float16 magnitude bits of a weight. Args: ptr, count. */
export function f16Max(tid: i32, nt: i32): void {
  f16MaxBits(tid, nt, parg(0), iarg(1));
}

/** Rescales a float16 weight by 2^s in place. Args: ptr, count, s. */
export function f16Scale(tid: i32, nt: i32): void {
  f16Rescale(tid, nt, parg(0), iarg(1), iarg(2));
}

/** Memory bandwidth probe for benchmarks: sums `bytes` at `ptr` in 64 KiB chunks. Args: ptr, bytes. */
export function stream(tid: i32, nt: i32): void {
  streamSum(tid, parg(0), iarg(1));
}
