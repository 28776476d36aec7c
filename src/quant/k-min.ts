/**
 * The K-quant super-block formats with a per-sub-block minimum (ggml-common.h block_q2_K,
 * block_q4_K, block_q5_K; QK_K = 256): x = d·sc·q − dmin·m, where d and dmin are ggml_half
 * super-block scales and (sc, m) are small unsigned integers per sub-block. Quantizers follow
 * ggml-quants.c quantize_row_q{2,4,5}_K_ref (make_qkx2_quants, then the scales themselves are
 * quantized and the elements re-quantized against the rounded scales).
 */
import { type BlockDequantizer, type BlockQuantizer, nearestInt, readF16, writeF16 } from './common.js';

const QK_K = 256;
const fr = Math.fround;
const RDELTA = fr(0.1);

/**
 * make_qkx2_quants (ggml-quants.c): fits x ≈ scale·L + min (min ≤ 0, 0 ≤ L ≤ nmax) by
 * weighted least squares, trying nstep + 1 candidate inverse scales (nmax + rmin + rdelta·is)
 * / (max − min) and keeping the one with the smallest weighted error (squared, or absolute when
 * `useMad`). Returns the scale; `res[0]` receives −min. Note that a better `min` found during
 * the search feeds the later candidates, as in ggml.
 */
function makeQkx2Quants(n: number, nmax: number, x: Float32Array, xo: number, w: Float32Array,
  L: Uint8Array, lo: number, Laux: Uint8Array, rmin: number, nstep: number, useMad: boolean, res: Float32Array): number {
  let min = x[xo]!, max = x[xo]!;
  let sumW = w[0]!, sumX = fr(sumW * x[xo]!);
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i]!, wi = w[i]!;
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    sumW = fr(sumW + wi);
    sumX = fr(sumX + fr(wi * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, lo, lo + n);
    res[0] = -min;
    return 0;
  }
  let iscale = fr(nmax / fr(max - min));
  let scale = fr(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const l = Math.max(0, Math.min(nmax, nearestInt(fr(iscale * fr(x[xo + i]! - min)))));
    L[lo + i] = l;
    let diff = fr(fr(fr(scale * l) + min) - x[xo + i]!);
    diff = useMad ? Math.abs(diff) : fr(diff * diff);
    bestError = fr(bestError + fr(w[i]! * diff));
  }
  for (let is = 0; is <= nstep; is++) {
    iscale = fr(fr(fr(rmin + fr(RDELTA * is)) + nmax) / fr(max - min));
    let sumL = 0, sumL2 = 0, sumXL = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i]!;
      const l = Math.max(0, Math.min(nmax, nearestInt(fr(iscale * fr(xi - min)))));
      Laux[i] = l;
      const wl = fr(w[i]! * l);
      sumL = fr(sumL + wl);
      sumL2 = fr(sumL2 + fr(wl * l));
      sumXL = fr(sumXL + fr(wl * xi));
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL));
    if (D > 0) {
      let thisScale = fr(fr(fr(sumW * sumXL) - fr(sumX * sumL)) / D);
      let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fr(sumXL / sumL2);
      }
      let err = 0;
      for (let i = 0; i < n; i++) {
        let diff = fr(fr(fr(thisScale * Laux[i]!) + thisMin) - x[xo + i]!);
        diff = useMad ? Math.abs(diff) : fr(diff * diff);
        err = fr(err + fr(w[i]! * diff));
      }
      if (err < bestError) {
        for (let i = 0; i < n; i++) L[lo + i] = Laux[i]!;
        bestError = err;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  res[0] = -min;
  return scale;
}

/*
 * Q4_K and Q5_K share one 12-byte packing of eight 6-bit scales sc[j] and mins m[j]
 * (get_scale_min_k4): for j < 4, bytes j and j + 4 hold sc[j] and m[j] in their low 6 bits;
 * for j ≥ 4, byte j + 4 holds the low nibbles (sc in bits 0–3, m in bits 4–7) and the top two
 * bits of bytes j − 4 (sc) and j (m) hold the high 2 bits.
 */

export function scaleMinK4(j: number, b: Uint8Array, o: number, res: Uint8Array): void {
  if (j < 4) {
    res[0] = b[o + j]! & 63;
    res[1] = b[o + j + 4]! & 63;
  } else {
    res[0] = (b[o + j + 4]! & 0x0f) | ((b[o + j - 4]! >> 6) << 4);
    res[1] = (b[o + j + 4]! >> 4) | ((b[o + j]! >> 6) << 4);
  }
}

function packScaleMinK4(y: Uint8Array, o: number, j: number, ls: number, lm: number): void {
  if (j < 4) {
    y[o + j] = ls;
    y[o + j + 4] = lm;
  } else {
    y[o + j + 4] = (ls & 0x0f) | ((lm & 0x0f) << 4);
    y[o + j - 4] |= (ls >> 4) << 6;
    y[o + j] |= (lm >> 4) << 6;
  }
}

/* block_q4_K (144 bytes): { ggml_half d; ggml_half dmin; uint8_t scales[12]; uint8_t qs[128]; }.
 * Eight sub-blocks of 32; qs byte 32c + l holds element 64c + l (low nibble) and 64c + 32 + l
 * (high nibble). block_q5_K (176 bytes) inserts uint8_t qh[32] before qs: bit 2c of qh[l] is
 * the fifth bit of element 64c + l, bit 2c + 1 that of element 64c + 32 + l. */

const smScratch = new Uint8Array(2);

function dequantizeQ45K(b: Uint8Array, off: number, nBlocks: number, out: Float32Array, o: number, five: boolean): void {
  const size = five ? 176 : 144;
  for (let i = 0; i < nBlocks; i++, off += size) {
    const d = readF16(b, off), dmin = readF16(b, off + 2);
    const qh = off + 16, qs = five ? off + 48 : off + 16;
    for (let c = 0; c < 4; c++, o += 64) {
      scaleMinK4(2 * c, b, off + 4, smScratch);
      const d1 = fr(d * smScratch[0]!), m1 = fr(dmin * smScratch[1]!);
      scaleMinK4(2 * c + 1, b, off + 4, smScratch);
      const d2 = fr(d * smScratch[0]!), m2 = fr(dmin * smScratch[1]!);
      const q = qs + 32 * c;
      for (let l = 0; l < 32; l++) {
        const h = five ? b[qh + l]! >> (2 * c) : 0;
        out[o + l] = fr(d1 * ((b[q + l]! & 0x0f) | ((h & 1) << 4))) - m1;
        out[o + 32 + l] = fr(d2 * ((b[q + l]! >> 4) | ((h & 2) << 3))) - m2;
      }
    }
  }
}

export const dequantizeQ4_K: BlockDequantizer = (b, off, n, out, o) => dequantizeQ45K(b, off, n, out, o, false);
export const dequantizeQ5_K: BlockDequantizer = (b, off, n, out, o) => dequantizeQ45K(b, off, n, out, o, true);

const Lk = new Uint8Array(QK_K);
const LauxK = new Uint8Array(32);
const weightsK = new Float32Array(32);
const scalesK = new Float32Array(QK_K / 16);
const minsK = new Float32Array(QK_K / 16);
const resK = new Float32Array(1);

/** quantize_row_q4_K_ref / quantize_row_q5_K_ref. */
function quantizeQ45K(x: Float32Array, xo: number, nBlocks: number, y: Uint8Array, yo: number, what: string, five: boolean): void {
  const nmax = five ? 31 : 15, rmin = five ? -0.5 : -1, nstep = five ? 15 : 20;
  const size = five ? 176 : 144, qs = five ? 48 : 16;
  for (let i = 0; i < nBlocks; i++, xo += QK_K, yo += size) {
    y.fill(0, yo, yo + size);
    let maxScale = 0, maxMin = 0;
    for (let j = 0; j < 8; j++) {
      const xj = xo + 32 * j;
      let sumX2 = 0;
      for (let l = 0; l < 32; l++) sumX2 = fr(sumX2 + fr(x[xj + l]! * x[xj + l]!));
      const avX = fr(Math.sqrt(fr(sumX2 / 32)));
      for (let l = 0; l < 32; l++) weightsK[l] = avX + Math.abs(x[xj + l]!);
      scalesK[j] = makeQkx2Quants(32, nmax, x, xj, weightsK, Lk, 32 * j, LauxK, rmin, nstep, false, resK);
      minsK[j] = resK[0]!;
      if (scalesK[j]! > maxScale) maxScale = scalesK[j]!;
      if (minsK[j]! > maxMin) maxMin = minsK[j]!;
    }
    const invScale = maxScale > 0 ? fr(63 / maxScale) : 0;
    const invMin = maxMin > 0 ? fr(63 / maxMin) : 0;
    for (let j = 0; j < 8; j++) {
      const ls = Math.min(63, nearestInt(fr(invScale * scalesK[j]!)) & 0xff);
      const lm = Math.min(63, nearestInt(fr(invMin * minsK[j]!)) & 0xff);
      packScaleMinK4(y, yo + 4, j, ls, lm);
    }
    const d = writeF16(y, yo, fr(maxScale / 63), what);
    const dmin = writeF16(y, yo + 2, fr(maxMin / 63), what);
    for (let j = 0; j < 8; j++) {
      scaleMinK4(j, y, yo + 4, smScratch);
      const dj = fr(d * smScratch[0]!);
      if (dj === 0) continue;
      const dm = fr(dmin * smScratch[1]!);
      for (let l = 0; l < 32; l++) {
        Lk[32 * j + l] = Math.max(0, Math.min(nmax, nearestInt(fr(fr(x[xo + 32 * j + l]! + dm) / dj))));
      }
    }
    for (let c = 0; c < 4; c++) {
      for (let l = 0; l < 32; l++) {
        const q0 = Lk[64 * c + l]!, q1 = Lk[64 * c + 32 + l]!;
        y[yo + qs + 32 * c + l] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
        if (five) y[yo + 16 + l] |= ((q0 >> 4) << (2 * c)) | ((q1 >> 4) << (2 * c + 1));
      }
    }
  }
}

export const quantizeQ4_K: BlockQuantizer = (x, xo, n, y, yo, what) => quantizeQ45K(x, xo, n, y, yo, what, false);
export const quantizeQ5_K: BlockQuantizer = (x, xo, n, y, yo, what) => quantizeQ45K(x, xo, n, y, yo, what, true);

/* block_q2_K (84 bytes): { uint8_t scales[16]; uint8_t qs[64]; ggml_half d; ggml_half dmin; }.
 * Sixteen sub-blocks of 16; scales[j] holds sc (bits 0–3) and m (bits 4–7). qs byte 32h + l
 * holds, in bit pairs 2k, elements 128h + 32k + l (0 ≤ l < 32). */

export const dequantizeQ2_K: BlockDequantizer = (b, off, nBlocks, out, o) => {
  for (let i = 0; i < nBlocks; i++, off += 84) {
    const d = readF16(b, off + 80), dmin = readF16(b, off + 82);
    for (let h = 0; h < 2; h++) {
      const q = off + 16 + 32 * h;
      for (let k = 0; k < 4; k++) {
        for (let s = 0; s < 2; s++, o += 16) {
          const sc = b[off + 8 * h + 2 * k + s]!;
          const dl = fr(d * (sc & 0x0f)), ml = fr(dmin * (sc >> 4));
          for (let l = 0; l < 16; l++) out[o + l] = fr(dl * ((b[q + 16 * s + l]! >> (2 * k)) & 3)) - ml;
        }
      }
    }
  }
};

/** quantize_row_q2_K_ref: make_qkx2_quants on |x|-weighted sub-blocks of 16, 4-bit scales and mins. */
export const quantizeQ2_K: BlockQuantizer = (x, xo, nBlocks, y, yo, what) => {
  for (let i = 0; i < nBlocks; i++, xo += QK_K, yo += 84) {
    y.fill(0, yo, yo + 84);
    let maxScale = 0, maxMin = 0;
    for (let j = 0; j < 16; j++) {
      for (let l = 0; l < 16; l++) weightsK[l] = Math.abs(x[xo + 16 * j + l]!);
      scalesK[j] = makeQkx2Quants(16, 3, x, xo + 16 * j, weightsK, Lk, 16 * j, LauxK, -0.5, 15, true, resK);
      minsK[j] = resK[0]!;
      if (scalesK[j]! > maxScale) maxScale = scalesK[j]!;
      if (minsK[j]! > maxMin) maxMin = minsK[j]!;
    }
    if (maxScale > 0) {
      const iscale = fr(15 / maxScale);
      for (let j = 0; j < 16; j++) y[yo + j] = nearestInt(fr(iscale * scalesK[j]!));
    }
    const d = writeF16(y, yo + 80, maxScale > 0 ? fr(maxScale / 15) : 0, what);
    if (maxMin > 0) {
      const iscale = fr(15 / maxMin);
      for (let j = 0; j < 16; j++) y[yo + j] |= nearestInt(fr(iscale * minsK[j]!)) << 4;
    }
    const dmin = writeF16(y, yo + 82, maxMin > 0 ? fr(maxMin / 15) : 0, what);
    for (let j = 0; j < 16; j++) {
      const dj = fr(d * (y[yo + j]! & 0x0f));
      if (dj === 0) continue;
      const dm = fr(dmin * (y[yo + j]! >> 4));
      for (let l = 0; l < 16; l++) {
        Lk[16 * j + l] = Math.max(0, Math.min(3, nearestInt(fr(fr(x[xo + 16 * j + l]! + dm) / dj))));
      }
    }
    for (let h = 0; h < 2; h++) {
      for (let l = 0; l < 32; l++) {
        const e = 128 * h + l;
        y[yo + 16 + 32 * h + l] = Lk[e]! | (Lk[e + 32]! << 2) | (Lk[e + 64]! << 4) | (Lk[e + 96]! << 6);
      }
    }
  }
};
