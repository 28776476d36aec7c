// Elementwise and row ops. Numerics follow the reference backend (src/backend/ref), which
// follows Hugging Face's modeling_gemma.py in float32.

import { farg, grab, iarg, parg, scratch, sinkLine } from './sync';
import { exp4, fma, hmax, hsum, sink } from './simd';
import { decodeRow, setF16WeightScale } from './dequant';

/**
 * Rows of a weight decoded and scaled. Args: type, out, outStride, table, (outRow, row) pairs, n,
 * K; f0 scale, f1 the F16 weight scale (dequant.ts).
 */
export function embed(tid: i32, nt: i32): void {
  setF16WeightScale(<f32>farg(1));
  const type = iarg(0), out = parg(1), os = <usize>iarg(2) << 2, table = parg(3), pairs = parg(4), n = iarg(5), K = iarg(6);
  const scale = f32x4.splat(<f32>farg(0));
  for (let i = grab(0); i < n; i = grab(0)) {
    const y = out + <usize>load<i32>(pairs + (<usize>i << 3)) * os;
    decodeRow(type, table, load<i32>(pairs + (<usize>i << 3), 4), y, K);
    // One float32 rounding of row·scale, as HF multiplies by the normalizer in the activation dtype.
    let j = 0;
    for (; j + 4 <= K; j += 4) v128.store(y + (<usize>j << 2), f32x4.mul(v128.load(y + (<usize>j << 2)), scale));
    for (; j < K; j++) store<f32>(y + (<usize>j << 2), load<f32>(y + (<usize>j << 2)) * f32x4.extract_lane(scale, 0));
  }
}

/**
 * RMSNorm. Args: x, w, out, rows, cols; f0 eps. Exactly the reference's arithmetic: Σx² in
 * float64 in order, 1/sqrt(float32(Σx²/n) + eps) in float64, float32(x·inv) · w.
 */
export function rmsNorm(tid: i32, nt: i32): void {
  const x = parg(0), w = parg(1), out = parg(2), rows = iarg(3), cols = iarg(4);
  const eps = farg(0);
  for (let r = grab(0); r < rows; r = grab(0)) {
    const xr = x + <usize>r * (<usize>cols << 2), or = out + <usize>r * (<usize>cols << 2);
    let ss: f64 = 0;
    for (let j = 0; j < cols; j++) {
      const v = <f64>load<f32>(xr + (<usize>j << 2));
      ss += v * v;
    }
    const inv: f64 = 1 / Math.sqrt(<f64><f32>(ss / <f64>cols) + eps);
    for (let j = 0; j < cols; j++) {
      const o = <usize>j << 2;
      store<f32>(or + o, <f32>(<f64>load<f32>(xr + o) * inv) * load<f32>(w + o));
    }
  }
}

/**
 * Rotary embedding in place ("rotate half"). Args: x, rows, cols, heads, headDim, table,
 * positions. table[p] holds headDim/2 cosines then headDim/2 sines (float64) of position p; the
 * rotation is done in float64 and rounded once, as the reference does.
 */
export function rope(tid: i32, nt: i32): void {
  const x = parg(0), rows = iarg(1), cols = iarg(2), heads = iarg(3), hd = iarg(4), table = parg(5), pos = parg(6);
  const half = hd >> 1;
  for (let r = grab(0); r < rows; r = grab(0)) {
    const cs = table + <usize>load<i32>(pos + (<usize>r << 2)) * (<usize>hd << 3);
    const sn = cs + (<usize>half << 3);
    for (let hh = 0; hh < heads; hh++) {
      const b = x + ((<usize>r * <usize>cols + <usize>hh * <usize>hd) << 2);
      const b2 = b + (<usize>half << 2);
      for (let i = 0; i < half; i++) {
        const c = load<f64>(cs + (<usize>i << 3)), s = load<f64>(sn + (<usize>i << 3));
        const x0 = <f64>load<f32>(b + (<usize>i << 2)), x1 = <f64>load<f32>(b2 + (<usize>i << 2));
        store<f32>(b + (<usize>i << 2), <f32>(x0 * c - x1 * s));
        store<f32>(b2 + (<usize>i << 2), <f32>(x1 * c + x0 * s));
      }
    }
  }
}

const CHUNK = 4096;

/**
 * out = gelu_tanh(g) · u. Args: gate, up, out, count. 0.5·v·(1 + tanh(z)) is computed as
 * v / (1 + e^(−2z)), z = sqrt(2/π)·(v + 0.044715·v³): equal in exact arithmetic and free of the
 * cancellation of 1 + tanh(z) for negative v; float32 with a few ulp of error.
 */
export function geluMul(tid: i32, nt: i32): void {
  const g = parg(0), u = parg(1), out = parg(2), count = iarg(3);
  const c = f32x4.splat(<f32>-1.5957691216057308), k = f32x4.splat(<f32>0.044715), one = f32x4.splat(1);
  for (let ch = grab(0); ch * CHUNK < count; ch = grab(0)) {
    const end = min(count, (ch + 1) * CHUNK);
    let i = ch * CHUNK;
    for (; i + 4 <= end; i += 4) {
      const o = <usize>i << 2;
      const v = v128.load(g + o);
      const z = f32x4.mul(c, fma(f32x4.mul(k, v), f32x4.mul(v, v), v));
      const gelu = f32x4.div(v, f32x4.add(one, exp4(z)));
      v128.store(out + o, f32x4.mul(gelu, v128.load(u + o)));
    }
    for (; i < end; i++) {
      const o = <usize>i << 2;
      const v = load<f32>(g + o);
      const z = <f32>-1.5957691216057308 * (v + <f32>0.044715 * v * v * v);
      store<f32>(out + o, v / (1 + f32x4.extract_lane(exp4(f32x4.splat(z)), 0)) * load<f32>(u + o));
    }
  }
}

/** out = a + b. Args: a, b, out, count. */
export function add(tid: i32, nt: i32): void {
  const a = parg(0), b = parg(1), out = parg(2), count = iarg(3);
  for (let ch = grab(0); ch * CHUNK < count; ch = grab(0)) {
    const end = min(count, (ch + 1) * CHUNK);
    let i = ch * CHUNK;
    for (; i + 4 <= end; i += 4) {
      const o = <usize>i << 2;
      v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
    }
    for (; i < end; i++) store<f32>(out + (<usize>i << 2), load<f32>(a + (<usize>i << 2)) + load<f32>(b + (<usize>i << 2)));
  }
}

const HB = 4; // query heads per work item (they share every K and V row load)

/**
 * Causal attention. Args: q, k, v, out, n, startPos, numHeads, numKvHeads, headDim, qStride,
 * kvStride, outStride; f0 scale. A work item is (query row, up to 4 heads of one KV group).
 * Scratch per thread: HB·(startPos + n) scores + HB·headDim accumulators.
 * Softmax in float32 with max subtraction; the 1/Σ is applied to the output.
 */
export function attention(tid: i32, nt: i32): void {
  const q = parg(0), k = parg(1), v = parg(2), out = parg(3), n = iarg(4), start = iarg(5);
  const nh = iarg(6), nkv = iarg(7), hd = iarg(8);
  const qs = <usize>iarg(9) << 2, kvs = <usize>iarg(10) << 2, os = <usize>iarg(11) << 2;
  const scale = <f32>farg(0);
  const group = nh / nkv, blocks = (group + HB - 1) / HB;
  const maxLen = start + n;
  const sc = scratch(tid), acc = sc + <usize>HB * (<usize>maxLen << 2);
  const hb = <usize>hd << 2;
  for (let it = grab(0); it < n * nkv * blocks; it = grab(0)) {
    const r = it / (nkv * blocks), rest = it - r * nkv * blocks;
    const kh = rest / blocks, h0 = kh * group + (rest - (rest / blocks) * blocks) * HB;
    const cnt = min(HB, kh * group + group - h0);
    const len = start + r + 1;
    const qb = q + <usize>r * qs + <usize>h0 * hb;
    const kb = k + <usize>kh * hb, vb = v + <usize>kh * hb;
    const ls = <usize>maxLen << 2;
    // Scores: each K row is loaded once for all heads of the item.
    for (let s = 0; s < len; s++) {
      const kr = kb + <usize>s * kvs;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      for (let d: usize = 0; d < hb; d += 16) {
        const kk = v128.load(kr + d);
        a0 = fma(v128.load(qb + d), kk, a0);
        if (cnt > 1) a1 = fma(v128.load(qb + hb + d), kk, a1);
        if (cnt > 2) a2 = fma(v128.load(qb + 2 * hb + d), kk, a2);
        if (cnt > 3) a3 = fma(v128.load(qb + 3 * hb + d), kk, a3);
      }
      const so = <usize>s << 2;
      store<f32>(sc + so, hsum(a0) * scale);
      if (cnt > 1) store<f32>(sc + ls + so, hsum(a1) * scale);
      if (cnt > 2) store<f32>(sc + 2 * ls + so, hsum(a2) * scale);
      if (cnt > 3) store<f32>(sc + 3 * ls + so, hsum(a3) * scale);
    }
    // Softmax numerators; the sums divide the output at the end.
    let sum0: f32 = 0, sum1: f32 = 0, sum2: f32 = 0, sum3: f32 = 0;
    for (let i = 0; i < cnt; i++) {
      const p = sc + <usize>i * ls;
      let m = f32x4.splat(-Infinity);
      let s = 0;
      for (; s + 4 <= len; s += 4) m = f32x4.pmax(m, v128.load(p + (<usize>s << 2))); // one instruction (f32x4.max: ~7 on x64)
      let mx = hmax(m);
      for (; s < len; s++) mx = max(mx, load<f32>(p + (<usize>s << 2)));
      const mv = f32x4.splat(mx);
      let sv = f32x4.splat(0);
      s = 0;
      for (; s + 4 <= len; s += 4) {
        const e = exp4(f32x4.sub(v128.load(p + (<usize>s << 2)), mv));
        v128.store(p + (<usize>s << 2), e);
        sv = f32x4.add(sv, e);
      }
      let sum = hsum(sv);
      for (; s < len; s++) {
        const e = f32x4.extract_lane(exp4(f32x4.splat(load<f32>(p + (<usize>s << 2)) - mx)), 0);
        store<f32>(p + (<usize>s << 2), e);
        sum += e;
      }
      if (i == 0) sum0 = sum; else if (i == 1) sum1 = sum; else if (i == 2) sum2 = sum; else sum3 = sum;
    }
    // Σ p·V, 8 columns at a time for all heads of the item.
    for (let d: usize = 0; d < hb; d += 32) {
      let b00 = f32x4.splat(0), b01 = f32x4.splat(0), b10 = f32x4.splat(0), b11 = f32x4.splat(0);
      let b20 = f32x4.splat(0), b21 = f32x4.splat(0), b30 = f32x4.splat(0), b31 = f32x4.splat(0);
      const two = d + 16 < hb;
      for (let s = 0; s < len; s++) {
        const vr = vb + <usize>s * kvs + d;
        const v0 = v128.load(vr), v1 = two ? v128.load(vr, 16) : f32x4.splat(0);
        const so = <usize>s << 2;
        let e = v128.load32_splat(sc + so);
        b00 = fma(e, v0, b00); b01 = fma(e, v1, b01);
        if (cnt > 1) { e = v128.load32_splat(sc + ls + so); b10 = fma(e, v0, b10); b11 = fma(e, v1, b11); }
        if (cnt > 2) { e = v128.load32_splat(sc + 2 * ls + so); b20 = fma(e, v0, b20); b21 = fma(e, v1, b21); }
        if (cnt > 3) { e = v128.load32_splat(sc + 3 * ls + so); b30 = fma(e, v0, b30); b31 = fma(e, v1, b31); }
      }
      const ob = out + <usize>r * os + <usize>h0 * hb + d;
      v128.store(ob, f32x4.div(b00, f32x4.splat(sum0)));
      if (two) v128.store(ob, f32x4.div(b01, f32x4.splat(sum0)), 16);
      if (cnt > 1) { v128.store(ob + hb, f32x4.div(b10, f32x4.splat(sum1))); if (two) v128.store(ob + hb, f32x4.div(b11, f32x4.splat(sum1)), 16); }
      if (cnt > 2) { v128.store(ob + 2 * hb, f32x4.div(b20, f32x4.splat(sum2))); if (two) v128.store(ob + 2 * hb, f32x4.div(b21, f32x4.splat(sum2)), 16); }
      if (cnt > 3) { v128.store(ob + 3 * hb, f32x4.div(b30, f32x4.splat(sum3))); if (two) v128.store(ob + 3 * hb, f32x4.div(b31, f32x4.splat(sum3)), 16); }
    }
  }
}

/** Reads `bytes` (a multiple of 64 KiB) at `p` with four independent accumulators. */
export function streamSum(tid: i32, p: usize, bytes: i32): void {
  const CH = 1 << 16;
  let a = i32x4.splat(0), b = i32x4.splat(0), c = i32x4.splat(0), d = i32x4.splat(0);
  for (let ch = grab(0); ch * CH < bytes; ch = grab(0)) {
    // Each 64 KiB chunk as four streams side by side, as the matvec kernels read their weights
    // (one stream per thread reads ~30% slower here: 17.5 against 24 GB/s on 2 threads).
    const s0 = p + <usize>ch * CH, Q: usize = CH >> 2;
    for (let o: usize = 0; o < Q; o += 32) {
      a = i32x4.add(a, v128.load(s0 + o)); b = i32x4.add(b, v128.load(s0 + Q + o));
      c = i32x4.add(c, v128.load(s0 + 2 * Q + o)); d = i32x4.add(d, v128.load(s0 + 3 * Q + o));
      a = i32x4.add(a, v128.load(s0 + o, 16)); b = i32x4.add(b, v128.load(s0 + Q + o, 16));
      c = i32x4.add(c, v128.load(s0 + 2 * Q + o, 16)); d = i32x4.add(d, v128.load(s0 + 3 * Q + o, 16));
    }
  }
  sink(sinkLine(tid), i32x4.add(i32x4.add(a, b), i32x4.add(c, d)));
}
