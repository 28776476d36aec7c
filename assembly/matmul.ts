// out[t][o] = x[t] · W[o] for every weight type.
//
// Block-quantized weights, small batches (Q4_0: every batch): activations are quantized to Q8_0
// blocks first (one phase, then a barrier), then threads take chunks of weight rows and run
// integer dot products; each weight row (Q4_0: row quad) is reused from L1 against every
// activation row (Q4_0: four activation rows per pass over the quad).
// Float weights (F32, F16, BF16), one token: float32 activations, a direct dot product that
// converts the weights on the fly. Every type, larger batches (the host decides): a panel of 4
// weight rows is decoded to float32 into the thread's scratch and run against pairs of float32
// activation rows (a 4×2 tile, the panel stays in L1/L2).

import { barrier, farg, grab, iarg, parg, scratch } from './sync';
import { fma, hsum } from './simd';
import { quantizeRows } from './quantize';
import { dotBF16, dotF16, dotF16Prescaled, dotF16Prescaled4, dotF32, prescale } from './fdot';
import { dotQuadOf, dotQuad4Of, gemmQuad4Of, storeQuad } from './quad';
import { decodeRow, getF16WeightScale, rowBytes, setF16WeightScale, BF16, F16, F32, Q4_0R4, Q4_KR4, Q5_KR4, Q6_K, Q8_0R4 } from './dequant';
import { dotQ6K, dotQ6Kx4 } from './kquant';
import { dotLegacy } from './legacy';

// @ts-ignore: decorator
@inline function pick(i: i32, a: v128, b: v128, c: v128, d: v128): v128 {
  return i == 0 ? a : i == 1 ? b : i == 2 ? c : d;
}

/** 4 decoded weight rows (stride K floats at p) × activation rows x0, x1 → out rows o0, o1 (4 floats each). */
function tile4x2(p: usize, K: i32, x0: usize, x1: usize, o0: usize, o1: usize, two: bool, nw: i32): void {
  const ks = <usize>K << 2;
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a02 = f32x4.splat(0), a03 = f32x4.splat(0);
  let a10 = f32x4.splat(0), a11 = f32x4.splat(0), a12 = f32x4.splat(0), a13 = f32x4.splat(0);
  const K4 = K & ~3;
  for (let o: usize = 0; o < (<usize>K4 << 2); o += 16) {
    const u = v128.load(x0 + o), v = v128.load(x1 + o);
    let w = v128.load(p + o);
    a00 = fma(w, u, a00); a10 = fma(w, v, a10);
    w = v128.load(p + ks + o);
    a01 = fma(w, u, a01); a11 = fma(w, v, a11);
    w = v128.load(p + 2 * ks + o);
    a02 = fma(w, u, a02); a12 = fma(w, v, a12);
    w = v128.load(p + 3 * ks + o);
    a03 = fma(w, u, a03); a13 = fma(w, v, a13);
  }
  for (let i = 0; i < nw; i++) {
    let s0 = hsum(pick(i, a00, a01, a02, a03)), s1 = hsum(pick(i, a10, a11, a12, a13));
    for (let j = K4; j < K; j++) {
      const w = load<f32>(p + <usize>i * ks + (<usize>j << 2));
      s0 += w * load<f32>(x0 + (<usize>j << 2));
      s1 += w * load<f32>(x1 + (<usize>j << 2));
    }
    store<f32>(o0 + (<usize>i << 2), s0);
    if (two) store<f32>(o1 + (<usize>i << 2), s1);
  }
}

const PANEL = 4;

/** Lane i of v to out row r + i·q: the results of a four-stream kernel (rows r, r + q, …). */
// @ts-ignore: decorator
@inline function storeStreams(out: usize, r: i32, q: i32, v: v128): void {
  store<f32>(out + (<usize>r << 2), f32x4.extract_lane(v, 0));
  store<f32>(out + (<usize>(r + q) << 2), f32x4.extract_lane(v, 1));
  store<f32>(out + (<usize>(r + 2 * q) << 2), f32x4.extract_lane(v, 2));
  store<f32>(out + (<usize>(r + 3 * q) << 2), f32x4.extract_lane(v, 3));
}

/**
 * Float path (see the top of this file). Args: type, x, xStride, n, K, w, wRows, out, outStride,
 * chunk; f0 the F16 weight scale (dequant.ts).
 */
export function matmulFloat(tid: i32, nt: i32): void {
  setF16WeightScale(<f32>farg(0));
  const type = iarg(0), x = parg(1), xs = <usize>iarg(2) << 2, n = iarg(3), K = iarg(4);
  const w = parg(5), rows = iarg(6), out = parg(7), os = <usize>iarg(8) << 2, chunk = iarg(9);
  const rb = rowBytes(type, K);
  if (n == 1 && (type == F32 || type == F16 || type == BF16)) {
    // Each thread scales its own copy of x: no barrier needed.
    const xs = scratch(tid);
    const pre = type == F16 && prescale(x, xs, K, getF16WeightScale());
    for (let c = grab(0); c * chunk < rows; c = grab(0)) {
      const end = min(rows, (c + 1) * chunk);
      let r = c * chunk;
      if (pre && (K & 15) == 0) {
        // The chunk as four streams of q rows each, the rest row by row.
        const q = (end - r) >> 2;
        for (const r0 = r; r < r0 + q; r++) {
          const v = dotF16Prescaled4(w + <usize>r * rb, <usize>q * rb, xs, K);
          storeStreams(out, r, q, v);
        }
        r += 3 * q;
      }
      for (; r < end; r++) {
        const wr = w + <usize>r * rb;
        const v = pre ? dotF16Prescaled(wr, xs, K) : type == F16 ? dotF16(wr, x, K)
          : type == BF16 ? dotBF16(wr, x, K) : dotF32(wr, x, K);
        store<f32>(out + (<usize>r << 2), v);
      }
    }
    return;
  }
  const panel = scratch(tid);
  // Chunks are whole panels.
  const pch = max(PANEL, chunk - chunk % PANEL);
  for (let c = grab(0); c * pch < rows; c = grab(0)) {
    const end = min(rows, (c + 1) * pch);
    for (let r0 = c * pch; r0 < end; r0 += PANEL) {
      const nw = min(PANEL, end - r0);
      for (let i = 0; i < nw; i++) decodeRow(type, w, r0 + i, panel + <usize>i * (<usize>K << 2), K);
      for (let i = nw; i < PANEL; i++) memory.fill(panel + <usize>i * (<usize>K << 2), 0, <usize>K << 2);
      const ob = out + (<usize>r0 << 2);
      let t = 0;
      for (; t + 2 <= n; t += 2) {
        tile4x2(panel, K, x + <usize>t * xs, x + <usize>(t + 1) * xs, ob + <usize>t * os, ob + <usize>(t + 1) * os, true, nw);
      }
      if (t < n) tile4x2(panel, K, x + <usize>t * xs, x + <usize>t * xs, ob + <usize>t * os, 0, false, nw);
    }
  }
}

/**
 * Integer path (Q8_0, Q4_0, Q4_K, Q5_K in row quads; Q4_1, Q5_0, Q5_1, Q6_K in rows). Args: layout, x,
 * xStride, n, K, w, wRows, out, outStride, chunk, xq, xd, xs8, xs16, xw, xi (quantized activations;
 * xw, xi: their int16 copy for Q8_0 and interleaved copy for Q4_0 / Q4_K / Q5_K, see
 * quantizeRows, else 0),
 * exact (a repacked weight with subnormal scales, see scales4 in dot.ts), then m − 1 further
 * weights on the same x (fused matmuls: m in arg 17, each as layout, w, wRows, out, outStride,
 * chunk, exact from arg 18 on). x is quantized once;
 * threads move on from one weight's rows to the next without waiting for each other.
 */
export function matmulQuant(tid: i32, nt: i32): void {
  const x = parg(1), n = iarg(3), K = iarg(4);
  const xq = parg(10), xd = parg(11), xn = parg(12), xh = parg(13), xw = parg(14), xi = parg(15);
  quantizeRows(tid, nt, x, iarg(2), n, K, xq, xd, xn, xh, xw, xi, 1);
  barrier(nt);
  const tmp = scratch(tid);
  quantWeight(iarg(0), parg(5), iarg(6), parg(7), <usize>iarg(8) << 2, iarg(9), iarg(16) != 0, 0, n, K, xq, xd, xn, xh, xw, xi, tmp);
  const m = iarg(17);
  for (let i = 1; i < m; i++) {
    const a = 18 + 7 * (i - 1);
    // Work counters: 0 for the first weight, 1 for quantizeRows, i + 1 for weight i.
    quantWeight(iarg(a), parg(a + 1), iarg(a + 2), parg(a + 3), <usize>iarg(a + 4) << 2, iarg(a + 5), iarg(a + 6) != 0, i + 1, n, K, xq, xd, xn, xh, xw, xi, tmp);
  }
}

/** One weight of matmulQuant: chunks of its rows from work counter `counter`. */
function quantWeight(layout: i32, w: usize, rows: i32, out: usize, os: usize, chunk: i32, exact: bool, counter: i32,
  n: i32, K: i32, xq: usize, xd: usize, xn: usize, xh: usize, xw: usize, xi: usize, tmp: usize): void {
  const nb = <usize>(K >> 5);
  const rb = rowBytes(layout, K);
  if (layout != Q4_0R4 && layout != Q8_0R4 && layout != Q4_KR4 && layout != Q5_KR4) {
    for (let c = grab(counter); c * chunk < rows; c = grab(counter)) {
      const end = min(rows, (c + 1) * chunk);
      let r = c * chunk;
      if (n == 1 && layout == Q6_K) {
        // One token: the chunk as four streams of q rows each (dotQ6Kx4), the rest row by row.
        const q = (end - r) >> 2, qb = <usize>q * rb;
        for (const r0 = r; r < r0 + q; r++) {
          const wr = w + <usize>r * rb;
          const v = dotQ6Kx4(wr, qb, xq, xd, xh, K);
          storeStreams(out, r, q, v);
        }
        r += 3 * q;
      }
      for (; r < end; r++) {
        const wr = w + <usize>r * rb;
        for (let t = 0; t < n; t++) {
          const bo = <usize>t * (nb << 2);
          const q = xq + <usize>t * <usize>K;
          const v = layout == Q6_K ? dotQ6K(wr, q, xd + bo, xh + (bo << 1), K)
            : dotLegacy(layout, wr, q, xd + bo, xn + bo, K);
          store<f32>(out + <usize>t * os + (<usize>r << 2), v);
        }
      }
    }
  } else {
    // Chunks of row quads (`chunk` is a multiple of 4). Q8_0 reads the int16 copy of the
    // activations (xw), the others the int8 quants (xq; GEMM groups: the interleaved copy xi).
    const q8 = layout == Q8_0R4;
    const ts = nb << 2, xr = q8 ? xw : xq, xg = q8 ? xw : xi, xstride = q8 ? <usize>K << 1 : <usize>K;
    for (let c = grab(counter); c * chunk < rows; c = grab(counter)) {
      const end = min(rows, (c + 1) * chunk);
      let r0 = c * chunk;
      if (n == 1) {
        // One token: the chunk as four streams of q quads each (dotQuad4Of), the rest one by one.
        const q = (end - r0) >> 4, qb = <usize>q * rb, qo = <usize>q << 4;
        for (const s = r0; r0 < s + (q << 2); r0 += 4) {
          dotQuad4Of(layout, w + <usize>(r0 >> 2) * rb, qb, xr, xd, xn, K, exact, out + (<usize>r0 << 2), qo, tmp);
        }
        r0 += 3 * (q << 2);
      }
      // Four activation rows (one interleaved group) at a time against every quad of the chunk:
      // the group and the chunk's weights both stay in L2 (a group of K = 16384 is 64–128 KiB,
      // all groups of a 128-token prompt several MiB); then the remaining rows one by one.
      let t = 0;
      for (; t + 4 <= n; t += 4) {
        for (let r = r0; r < end; r += 4) {
          gemmQuad4Of(layout, w + <usize>(r >> 2) * rb, xg + <usize>t * xstride, xd + <usize>t * ts, xn + <usize>t * ts, ts, K, exact,
            out + (<usize>r << 2) + <usize>t * os, os, min(4, rows - r), tmp);
        }
      }
      for (; t < n; t++) {
        for (let r = r0; r < end; r += 4) {
          const v = dotQuadOf(layout, w + <usize>(r >> 2) * rb, xr + <usize>t * xstride, xd + <usize>t * ts, xn + <usize>t * ts, K, exact, tmp);
          const nr = min(4, rows - r);
          storeQuad(out + (<usize>r << 2) + <usize>t * os, v, nr);
        }
      }
    }
  }
}
