/**
 * The symmetric K-quant super-block formats (ggml-common.h block_q3_K, block_q6_K,
 * block_q8_K; QK_K = 256): x = d·sc·q with a signed integer scale sc per sub-block of 16 and
 * signed quants q. Quantizers follow ggml-quants.c quantize_row_q{3,6,8}_K_ref: each sub-block
 * gets a scale from make_q3_quants / make_qx_quants, the scales are quantized against the
 * largest one (its sign included, so scales and d may be negative) and the elements are
 * re-quantized against the rounded scales.
 */
import { GemmaError } from '../errors.js';
import { type BlockDequantizer, type BlockQuantizer, GROUP_MAX_EPS, nearestInt, readF16, writeF16 } from './common.js';

const QK_K = 256;
const fr = Math.fround;
const TENTH = fr(0.1);

/** The signed value of largest magnitude among x[xo .. xo+n), first one on ties; 0 if all are zero. */
function signedAbsMax(x: Float32Array, xo: number, n: number): number {
  let amax = 0, max = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xo + i]!);
    if (ax > amax) { amax = ax; max = x[xo + i]!; }
  }
  return max;
}

/**
 * make_qx_quants with rmse_type 1 and no importance weights (ggml-quants.c): L = clamp(round(
 * iscale·x), −nmax, nmax − 1) + nmax, trying iscale = −(nmax + 0.1·is)/max for is = −9..9 and
 * keeping the candidate with the best x²-weighted least-squares fit. Returns the scale.
 */
function makeQxQuants(n: number, nmax: number, x: Float32Array, xo: number, L: Int8Array, lo: number): number {
  const max = signedAbsMax(x, xo, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  let iscale = fr(-nmax / max);
  let sumlx = 0, suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i]!;
    const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * xi))));
    L[lo + i] = l + nmax;
    const w = fr(xi * xi);
    sumlx = fr(sumlx + fr(fr(w * xi) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  let scale = suml2 !== 0 ? fr(sumlx / suml2) : 0;
  let best = fr(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = fr(-fr(nmax + fr(TENTH * is)) / max);
    sumlx = 0; suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i]!;
      const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * xi))));
      const w = fr(xi * xi);
      sumlx = fr(sumlx + fr(fr(w * xi) * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    if (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2)) {
      for (let i = 0; i < n; i++) {
        L[lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * x[xo + i]!))));
      }
      scale = fr(sumlx / suml2);
      best = fr(scale * sumlx);
    }
  }
  return scale;
}

/**
 * make_q3_quants with do_rmse (ggml-quants.c): start from round(−nmax·x/max), then up to five
 * passes of coordinate descent on the x²-weighted fit, moving one quant at a time when that
 * improves sumlx²/suml2. L ends in [0, 2·nmax). Returns the scale.
 */
function makeQ3Quants(n: number, nmax: number, x: Float32Array, xo: number, L: Int8Array, lo: number): number {
  const max = signedAbsMax(x, xo, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  const iscale = fr(-nmax / max);
  let sumlx = 0, suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i]!;
    const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * xi))));
    L[lo + i] = l;
    const w = fr(xi * xi);
    sumlx = fr(sumlx + fr(fr(w * xi) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i]!, li = L[lo + i]!;
      const w = fr(xi * xi);
      let slx = fr(sumlx - fr(fr(w * xi) * li));
      if (slx > 0) {
        let sl2 = fr(suml2 - fr(fr(w * li) * li));
        const nl = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(fr(xi * sl2) / slx))));
        if (nl !== li) {
          slx = fr(slx + fr(fr(w * xi) * nl));
          sl2 = fr(sl2 + fr(fr(w * nl) * nl));
          if (sl2 > 0 && fr(fr(slx * slx) * suml2) > fr(fr(sumlx * sumlx) * sl2)) {
            L[lo + i] = nl; sumlx = slx; suml2 = sl2;
            changed++;
          }
        }
      }
    }
    if (changed === 0) break;
  }
  for (let i = 0; i < n; i++) L[lo + i] = L[lo + i]! + nmax;
  return suml2 > 0 ? fr(sumlx / suml2) : 0;
}

const Ls = new Int8Array(QK_K);
const scales16 = new Float32Array(16);

/**
 * The sub-block scale of largest magnitude (first on ties). Values beyond ~1e19 overflow x² in
 * the float32 fit and give NaN scales, which ggml would silently store as an all-zero block.
 */
function maxScale(what: string): number {
  let amax = 0, max = 0;
  for (let j = 0; j < 16; j++) {
    if (Number.isNaN(scales16[j])) throw new GemmaError(`${what}: the values are too large for this type (float32 overflow)`);
    if (Math.abs(scales16[j]!) > amax) { amax = Math.abs(scales16[j]!); max = scales16[j]!; }
  }
  return max;
}

/* block_q6_K (210 bytes): { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; ggml_half d; }.
 * q = 6-bit value − 32. In each half h (128 elements), element 128h + 32k + l (l < 32) has its
 * low nibble in ql[64h + l + 32·(k & 1)] (bits 0–3 for k < 2, 4–7 for k ≥ 2) and its top two
 * bits in qh[32h + l] at bits 2k, 2k + 1. Sub-block (16 elements) j uses scales[j]. */

export const dequantizeQ6_K: BlockDequantizer = (b, off, nBlocks, out, o) => {
  for (let i = 0; i < nBlocks; i++, off += 210) {
    const d = readF16(b, off + 208);
    for (let h = 0; h < 2; h++, o += 128) {
      const ql = off + 64 * h, qh = off + 128 + 32 * h, sc = off + 192 + 8 * h;
      for (let l = 0; l < 32; l++) {
        const hb = b[qh + l]!, lo = b[ql + l]!, hi = b[ql + 32 + l]!;
        const s = l >> 4;
        out[o + l] = fr(d * ((b[sc + s]! << 24) >> 24)) * (((lo & 0x0f) | ((hb & 3) << 4)) - 32);
        out[o + 32 + l] = fr(d * ((b[sc + s + 2]! << 24) >> 24)) * (((hi & 0x0f) | (((hb >> 2) & 3) << 4)) - 32);
        out[o + 64 + l] = fr(d * ((b[sc + s + 4]! << 24) >> 24)) * (((lo >> 4) | (((hb >> 4) & 3) << 4)) - 32);
        out[o + 96 + l] = fr(d * ((b[sc + s + 6]! << 24) >> 24)) * (((hi >> 4) | ((hb >> 6) << 4)) - 32);
      }
    }
  }
};

/** quantize_row_q6_K_ref: make_qx_quants(16, 32) per sub-block, int8 scales = −128·scale/max_scale. */
export const quantizeQ6_K: BlockQuantizer = (x, xo, nBlocks, y, yo, what) => {
  for (let i = 0; i < nBlocks; i++, xo += QK_K, yo += 210) {
    y.fill(0, yo, yo + 210);
    for (let j = 0; j < 16; j++) scales16[j] = makeQxQuants(16, 32, x, xo + 16 * j, Ls, 16 * j);
    const max = maxScale(what);
    if (Math.abs(max) < GROUP_MAX_EPS) continue;
    const iscale = fr(-128 / max);
    const d = writeF16(y, yo + 208, fr(1 / iscale), what);
    for (let j = 0; j < 16; j++) y[yo + 192 + j] = Math.min(127, nearestInt(fr(iscale * scales16[j]!)));
    for (let j = 0; j < 16; j++) {
      const dj = fr(d * ((y[yo + 192 + j]! << 24) >> 24));
      if (dj === 0) continue;
      for (let l = 0; l < 16; l++) {
        Ls[16 * j + l] = Math.max(-32, Math.min(31, nearestInt(fr(x[xo + 16 * j + l]! / dj)))) + 32;
      }
    }
    for (let h = 0; h < 2; h++) {
      const ql = yo + 64 * h, qh = yo + 128 + 32 * h;
      for (let l = 0; l < 32; l++) {
        const e = 128 * h + l;
        const q1 = Ls[e]!, q2 = Ls[e + 32]!, q3 = Ls[e + 64]!, q4 = Ls[e + 96]!;
        y[ql + l] = (q1 & 0x0f) | ((q3 & 0x0f) << 4);
        y[ql + 32 + l] = (q2 & 0x0f) | ((q4 & 0x0f) << 4);
        y[qh + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
      }
    }
  }
};

/* block_q3_K (110 bytes): { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; ggml_half d; }.
 * q = 3-bit value − 4: element e = 128h + 32k + l (l < 32) has its low two bits in qs[32h + l]
 * at bits 2k, 2k + 1 and its third bit in hmask[l] at bit 4h + k. The sixteen 6-bit scales
 * (stored + 32) keep their low nibbles in bytes 0–7 (scale j in byte j % 8, high nibble for
 * j ≥ 8) and their top two bits in bytes 8–11 (scale j in byte 8 + j % 4, bits 2·⌊j/4⌋). */

function q3Scale(b: Uint8Array, o: number, j: number): number {
  const low = j < 8 ? b[o + j]! & 0x0f : b[o + j - 8]! >> 4;
  return (low | (((b[o + 8 + (j % 4)]! >> (2 * (j >> 2))) & 3) << 4)) - 32;
}

export const dequantizeQ3_K: BlockDequantizer = (b, off, nBlocks, out, o) => {
  for (let i = 0; i < nBlocks; i++, off += 110, o += QK_K) {
    const d = readF16(b, off + 108);
    for (let e0 = 0; e0 < QK_K; e0 += 16) {
      const dl = fr(d * q3Scale(b, off + 96, e0 >> 4));
      const h = e0 >> 7, k = (e0 >> 5) & 3;
      for (let e = e0; e < e0 + 16; e++) {
        const l = e & 31;
        const q = ((b[off + 32 + 32 * h + l]! >> (2 * k)) & 3) - ((b[off + l]! >> (4 * h + k)) & 1 ? 0 : 4);
        out[o + e] = dl * q;
      }
    }
  }
};

/** quantize_row_q3_K_ref: make_q3_quants(16, 4) per sub-block, 6-bit scales = −32·scale/max_scale. */
export const quantizeQ3_K: BlockQuantizer = (x, xo, nBlocks, y, yo, what) => {
  for (let i = 0; i < nBlocks; i++, xo += QK_K, yo += 110) {
    y.fill(0, yo, yo + 110);
    for (let j = 0; j < 16; j++) scales16[j] = makeQ3Quants(16, 4, x, xo + 16 * j, Ls, 16 * j);
    const max = maxScale(what);
    const sc = yo + 96;
    let d = 0;
    if (max !== 0) {
      const iscale = fr(-32 / max);
      for (let j = 0; j < 16; j++) {
        const l = Math.max(-32, Math.min(31, (nearestInt(fr(iscale * scales16[j]!)) << 24) >> 24)) + 32;
        if (j < 8) y[sc + j] = l & 0x0f;
        else y[sc + j - 8] |= (l & 0x0f) << 4;
        y[sc + 8 + (j % 4)] |= (l >> 4) << (2 * (j >> 2));
      }
      d = writeF16(y, yo + 108, fr(1 / iscale), what);
    }
    for (let j = 0; j < 16; j++) {
      const dj = fr(d * q3Scale(y, sc, j));
      if (dj === 0) continue;
      for (let l = 0; l < 16; l++) {
        Ls[16 * j + l] = Math.max(-4, Math.min(3, nearestInt(fr(x[xo + 16 * j + l]! / dj)))) + 4;
      }
    }
    for (let e = 0; e < QK_K; e++) {
      const q = Ls[e]!;
      if (q > 3) y[yo + (e & 31)] |= 1 << (e >> 5);
      Ls[e] = q & 3;
    }
    for (let h = 0; h < 2; h++) {
      for (let l = 0; l < 32; l++) {
        const e = 128 * h + l;
        y[yo + 32 + 32 * h + l] = Ls[e]! | (Ls[e + 32]! << 2) | (Ls[e + 64]! << 4) | (Ls[e + 96]! << 6);
      }
    }
  }
};

/* block_q8_K (292 bytes): { float d; int8_t qs[256]; int16_t bsums[16]; }, x = d·qs; bsums
 * holds the sums of each 16 quants (used by ggml's dot products, not by dequantization). */

export const dequantizeQ8_K: BlockDequantizer = (b, off, nBlocks, out, o) => {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < nBlocks; i++, off += 292, o += QK_K) {
    const d = dv.getFloat32(off, true);
    for (let j = 0; j < QK_K; j++) out[o + j] = d * ((b[off + 4 + j]! << 24) >> 24);
  }
};

/** quantize_row_q8_K_ref: d = max / −127 (signed maximum), q = min(127, round(x/d)). */
export const quantizeQ8_K: BlockQuantizer = (x, xo, nBlocks, y, yo) => {
  const dv = new DataView(y.buffer, y.byteOffset, y.byteLength);
  for (let i = 0; i < nBlocks; i++, xo += QK_K, yo += 292) {
    y.fill(0, yo, yo + 292);
    const max = signedAbsMax(x, xo, QK_K);
    if (max === 0) continue;
    const iscale = fr(-127 / max);
    for (let j = 0; j < QK_K; j++) y[yo + 4 + j] = Math.min(127, nearestInt(fr(iscale * x[xo + j]!)));
    for (let j = 0; j < 16; j++) {
      let sum = 0;
      for (let l = 0; l < 16; l++) sum += (y[yo + 4 + 16 * j + l]! << 24) >> 24;
      dv.setInt16(yo + 260 + 2 * j, sum, true);
    }
    dv.setFloat32(yo, fr(1 / iscale), true);
  }
};
