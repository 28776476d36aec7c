/**
 * RoPE cosines and sines per position, computed in float64 exactly as the reference backend
 * does (angle = position · theta^(−2i/headDim)) and kept for positions 0..max seen so far
 * (16 MiB for 8192 positions of head size 256). If an arena has no room for that, a table of
 * just the call's positions is built instead.
 */
import type { Arena } from './arena.js';

interface Table { ptr: number; positions: number }

const tables = new WeakMap<Arena, Map<string, Table>>();

function fill(f: Float64Array, base: number, pos: number, invFreq: Float64Array): void {
  const half = invFreq.length;
  for (let i = 0; i < half; i++) {
    const a = pos * invFreq[i];
    f[base + i] = Math.cos(a);
    f[base + half + i] = Math.sin(a);
  }
}

function inverseFrequencies(theta: number, headDim: number): Float64Array {
  const invFreq = new Float64Array(headDim / 2);
  for (let i = 0; i < invFreq.length; i++) invFreq[i] = Math.pow(theta, (-2 * i) / headDim);
  return invFreq;
}

/**
 * A table in `arena` for `positions` (all ≥ 0) and the row of it each position uses: the
 * table's row p is position p, or with the fallback row i is positions[i].
 */
export function ropeTable(arena: Arena, theta: number, headDim: number, positions: Int32Array): { table: number; rows: Int32Array } {
  let maxPos = 0;
  for (const p of positions) maxPos = Math.max(maxPos, p);
  let m = tables.get(arena);
  if (!m) tables.set(arena, (m = new Map()));
  const key = `${theta}/${headDim}`;
  const old = m.get(key);
  if (old && old.positions > maxPos) return { table: old.ptr, rows: positions };
  const count = Math.max(maxPos + 1, 2 * (old?.positions ?? 0), 256);
  const ptr = arena.tryAlloc(count * headDim * 8);
  const invFreq = inverseFrequencies(theta, headDim);
  if (ptr < 0) {
    const table = arena.scratch('rope', positions.length * headDim * 8);
    for (let i = 0; i < positions.length; i++) fill(arena.f64, table / 8 + i * headDim, positions[i], invFreq);
    return { table, rows: Int32Array.from(positions, (_, i) => i) };
  }
  const from = old ? old.positions : 0;
  if (old) {
    arena.u8.copyWithin(ptr, old.ptr, old.ptr + from * headDim * 8);
    arena.free(old.ptr);
  }
  for (let p = from; p < count; p++) fill(arena.f64, ptr / 8 + p * headDim, p, invFreq);
  m.set(key, { ptr, positions: count });
  return { table: ptr, rows: positions };
}
