/**
 * RoPE cosines and sines per position, computed in float64 exactly as the reference backend
 * does (angle = position · theta^(−2i/headDim)) and kept for the positions seen so far.
 */
import type { Arena } from './arena.js';

interface Table { ptr: number; positions: number }

const tables = new WeakMap<Arena, Map<string, Table>>();

/** Pointer to the table of (theta, headDim) in `arena`, covering positions [0, maxPos]. */
export function ropeTable(arena: Arena, theta: number, headDim: number, maxPos: number): number {
  let m = tables.get(arena);
  if (!m) tables.set(arena, (m = new Map()));
  const key = `${theta}/${headDim}`;
  const old = m.get(key);
  if (old && old.positions > maxPos) return old.ptr;
  const positions = Math.max(maxPos + 1, 2 * (old?.positions ?? 0), 256);
  const ptr = arena.alloc(positions * headDim * 8);
  const half = headDim / 2;
  const from = old ? old.positions : 0;
  if (old) {
    arena.u8.copyWithin(ptr, old.ptr, old.ptr + from * headDim * 8);
    arena.free(old.ptr);
  }
  const invFreq = new Float64Array(half);
  for (let i = 0; i < half; i++) invFreq[i] = Math.pow(theta, (-2 * i) / headDim);
  const f = arena.f64;
  for (let p = from; p < positions; p++) {
    const b = ptr / 8 + p * headDim;
    for (let i = 0; i < half; i++) {
      const a = p * invFreq[i];
      f[b + i] = Math.cos(a);
      f[b + half + i] = Math.sin(a);
    }
  }
  m.set(key, { ptr, positions });
  return ptr;
}
