// AssemblyScript, not TypeScript: the kernels of bench/ceilings.ts, which compiles this file at
// run time (assemblyscript's asc API, --enable simd,threads,relaxed-simd, imported shared
// memory, output kept in memory). Excluded from the project's typecheck (tsconfig.json).
//
// Peak kernels: `n` iterations, each 8 independent multiply-adds into 8 accumulators, operands
// in registers. The operands are read once, before the loop, from p (the host writes them), and
// the result is returned, so nothing can be folded. (A vector splat from a scalar argument does
// not work: V8 recomputes it inside the loop, 3 instructions per use.) A multiply whose operands
// did not change from one iteration to the next would be hoisted out of the loop (V8's scheduler
// moves loop-invariant pure operations out), so the integer kernels advance one operand per
// iteration: `a` and `b = a + s0` (one add per 8 multiplies, the only overhead) against 4 fixed
// vectors give 8 distinct operand pairs. The float kernel needs no such help: each fused
// multiply-add depends on its own accumulator. At most 15 vectors are live at once, the xmm
// registers V8 allocates on x64, so nothing spills (V8 11.3's code for peakI8's loop: 8 vpmaddubsw,
// 8 vpaddw, 1 vpaddb, the loop counter and stack check).

/** The 8 accumulators folded into one i32 by xor (keeps every accumulator alive). */
// @ts-ignore: decorator
@inline function fold(c0: v128, c1: v128, c2: v128, c3: v128, c4: v128, c5: v128, c6: v128, c7: v128): i32 {
  const s = v128.or(v128.xor(v128.xor(c0, c1), v128.xor(c2, c3)), v128.xor(v128.xor(c4, c5), v128.xor(c6, c7)));
  return i32x4.extract_lane(s, 0) ^ i32x4.extract_lane(s, 1) ^ i32x4.extract_lane(s, 2) ^ i32x4.extract_lane(s, 3);
}

/** int8: i16x8.relaxed_dot_i8x16_i7x16_s (x64 pmaddubsw, 16 multiply-adds) + i16x8.add; 128 MACs per iteration. */
export function peakI8(n: i32, p: usize): i32 {
  let a = v128.load(p, 64);
  const s0 = v128.load(p), s1 = v128.load(p, 16), s2 = v128.load(p, 32), s3 = v128.load(p, 48);
  let c0 = v128.load(p, 80), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
  for (let i = 0; i < n; i++) {
    const b = i8x16.add(a, s0);
    c0 = i16x8.add(c0, i16x8.relaxed_dot_i8x16_i7x16_s(a, s0)); c1 = i16x8.add(c1, i16x8.relaxed_dot_i8x16_i7x16_s(a, s1));
    c2 = i16x8.add(c2, i16x8.relaxed_dot_i8x16_i7x16_s(a, s2)); c3 = i16x8.add(c3, i16x8.relaxed_dot_i8x16_i7x16_s(a, s3));
    c4 = i16x8.add(c4, i16x8.relaxed_dot_i8x16_i7x16_s(b, s0)); c5 = i16x8.add(c5, i16x8.relaxed_dot_i8x16_i7x16_s(b, s1));
    c6 = i16x8.add(c6, i16x8.relaxed_dot_i8x16_i7x16_s(b, s2)); c7 = i16x8.add(c7, i16x8.relaxed_dot_i8x16_i7x16_s(b, s3));
    a = b;
  }
  return fold(c0, c1, c2, c3, c4, c5, c6, c7);
}

/** int16: i32x4.dot_i16x8_s (pmaddwd, 8 multiply-adds) + i32x4.add; 64 MACs per iteration. */
export function peakI16(n: i32, p: usize): i32 {
  let a = v128.load(p, 64);
  const s0 = v128.load(p), s1 = v128.load(p, 16), s2 = v128.load(p, 32), s3 = v128.load(p, 48);
  let c0 = v128.load(p, 80), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
  for (let i = 0; i < n; i++) {
    const b = i16x8.add(a, s0);
    c0 = i32x4.add(c0, i32x4.dot_i16x8_s(a, s0)); c1 = i32x4.add(c1, i32x4.dot_i16x8_s(a, s1));
    c2 = i32x4.add(c2, i32x4.dot_i16x8_s(a, s2)); c3 = i32x4.add(c3, i32x4.dot_i16x8_s(a, s3));
    c4 = i32x4.add(c4, i32x4.dot_i16x8_s(b, s0)); c5 = i32x4.add(c5, i32x4.dot_i16x8_s(b, s1));
    c6 = i32x4.add(c6, i32x4.dot_i16x8_s(b, s2)); c7 = i32x4.add(c7, i32x4.dot_i16x8_s(b, s3));
    a = b;
  }
  return fold(c0, c1, c2, c3, c4, c5, c6, c7);
}

/**
 * f32: f32x4.relaxed_madd (vfmadd on x64 with FMA3, 4 multiply-adds); 32 MACs per iteration.
 * 8 chains cover the instruction's latency (4 cycles at 2 per cycle on recent x64). The host
 * writes y = z = 2⁻¹⁰ and sums of 1…8, so each step adds ~1e-6 and the sums stay normal floats
 * (no subnormal slow path).
 */
export function peakF32(n: i32, p: usize): i32 {
  const y = v128.load(p), z = v128.load(p, 16);
  let c0 = v128.load(p, 32), c1 = v128.load(p, 48), c2 = v128.load(p, 64), c3 = v128.load(p, 80);
  let c4 = v128.load(p, 96), c5 = v128.load(p, 112), c6 = v128.load(p, 128), c7 = v128.load(p, 144);
  for (let i = 0; i < n; i++) {
    c0 = f32x4.relaxed_madd(y, z, c0); c1 = f32x4.relaxed_madd(y, z, c1); c2 = f32x4.relaxed_madd(y, z, c2); c3 = f32x4.relaxed_madd(y, z, c3);
    c4 = f32x4.relaxed_madd(y, z, c4); c5 = f32x4.relaxed_madd(y, z, c5); c6 = f32x4.relaxed_madd(y, z, c6); c7 = f32x4.relaxed_madd(y, z, c7);
  }
  return fold(c0, c1, c2, c3, c4, c5, c6, c7);
}

/**
 * int8 in baseline SIMD (no relaxed dot): i16x8.extmul_low_i8x16_s and extmul_high_i8x16_s
 * (8 products each; V8 emits 3 and 5 x64 instructions) + i16x8.add; 64 MACs per iteration.
 */
export function peakI8Baseline(n: i32, p: usize): i32 {
  let a = v128.load(p, 64);
  const s0 = v128.load(p), s1 = v128.load(p, 16), s2 = v128.load(p, 32), s3 = v128.load(p, 48);
  let c0 = v128.load(p, 80), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
  for (let i = 0; i < n; i++) {
    c0 = i16x8.add(c0, i16x8.extmul_low_i8x16_s(a, s0)); c1 = i16x8.add(c1, i16x8.extmul_high_i8x16_s(a, s0));
    c2 = i16x8.add(c2, i16x8.extmul_low_i8x16_s(a, s1)); c3 = i16x8.add(c3, i16x8.extmul_high_i8x16_s(a, s1));
    c4 = i16x8.add(c4, i16x8.extmul_low_i8x16_s(a, s2)); c5 = i16x8.add(c5, i16x8.extmul_high_i8x16_s(a, s2));
    c6 = i16x8.add(c6, i16x8.extmul_low_i8x16_s(a, s3)); c7 = i16x8.add(c7, i16x8.extmul_high_i8x16_s(a, s3));
    a = i8x16.add(a, s0);
  }
  return fold(c0, c1, c2, c3, c4, c5, c6, c7);
}

/** The i32x4 sum of the 64-byte line at p (4 loads, summed as a tree: one add on the chain). */
// @ts-ignore: decorator
@inline function line(p: usize): v128 {
  return i32x4.add(i32x4.add(v128.load(p), v128.load(p, 16)), i32x4.add(v128.load(p, 32), v128.load(p, 48)));
}

/**
 * Streaming read: sums the `bytes` at p (a multiple of 64 · streams) as `streams` (1, 2, 4 or
 * 8) equal parts read side by side, one 64-byte line of each per iteration; one accumulator per
 * stream. More streams keep more cache misses in flight where the hardware prefetcher stops
 * at each 4 KiB page.
 */
export function read(p: usize, bytes: usize, streams: i32): i32 {
  const q = bytes / <usize>streams;
  let a0 = i32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  if (streams == 1) {
    for (let o: usize = 0; o < q; o += 64) a0 = i32x4.add(a0, line(p + o));
  } else if (streams == 2) {
    for (let o: usize = 0; o < q; o += 64) { a0 = i32x4.add(a0, line(p + o)); a1 = i32x4.add(a1, line(p + q + o)); }
  } else if (streams == 4) {
    for (let o: usize = 0; o < q; o += 64) {
      a0 = i32x4.add(a0, line(p + o)); a1 = i32x4.add(a1, line(p + q + o));
      a2 = i32x4.add(a2, line(p + 2 * q + o)); a3 = i32x4.add(a3, line(p + 3 * q + o));
    }
  } else {
    for (let o: usize = 0; o < q; o += 64) {
      a0 = i32x4.add(a0, line(p + o)); a1 = i32x4.add(a1, line(p + q + o));
      a2 = i32x4.add(a2, line(p + 2 * q + o)); a3 = i32x4.add(a3, line(p + 3 * q + o));
      a4 = i32x4.add(a4, line(p + 4 * q + o)); a5 = i32x4.add(a5, line(p + 5 * q + o));
      a6 = i32x4.add(a6, line(p + 6 * q + o)); a7 = i32x4.add(a7, line(p + 7 * q + o));
    }
  }
  return fold(a0, a1, a2, a3, a4, a5, a6, a7);
}
