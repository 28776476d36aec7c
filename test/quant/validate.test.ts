import { describe, expect, it } from 'vitest';
import { GgmlType, GGML_TYPE_INFO } from '../../src/formats/ggml-types.js';
import { quantize } from '../../src/quant/index.js';
import { findNonFiniteScale } from '../../src/quant/validate.js';

/** Float16 fields per block, as ggml's block structs place them. */
const FIELDS: [GgmlType, number[]][] = [
  [GgmlType.Q4_0, [0]], [GgmlType.Q4_1, [0, 2]], [GgmlType.Q5_0, [0]], [GgmlType.Q5_1, [0, 2]], [GgmlType.Q8_0, [0]],
  [GgmlType.Q2_K, [80, 82]], [GgmlType.Q3_K, [108]], [GgmlType.Q4_K, [0, 2]], [GgmlType.Q5_K, [0, 2]], [GgmlType.Q6_K, [208]],
];

describe('findNonFiniteScale', () => {
  it.each(FIELDS.map(([t, f]) => [GGML_TYPE_INFO[t]!.name, t, f] as const))('%s: Inf and NaN in every float16 field, aligned or not', (_n, type, fields) => {
    const x = Float32Array.from({ length: 8 * 256 }, (_, i) => Math.sin(i) * 0.1);
    const good = quantize(type, x);
    const size = GGML_TYPE_INFO[type]!.typeSize;
    for (const offset of [0, 1]) {
      const buf = new Uint8Array(good.length + 1);
      const bytes = buf.subarray(offset, offset + good.length);
      bytes.set(good);
      expect(findNonFiniteScale(type, bytes)).toBeUndefined();
      for (const f of fields) {
        for (const bits of [0x7c00, 0xfc00, 0x7e00, 0x7c01]) {
          bytes.set(good);
          const block = 5;
          bytes[block * size + f] = bits & 0xff;
          bytes[block * size + f + 1] = bits >> 8;
          expect(findNonFiniteScale(type, bytes), `field ${f}, 0x${bits.toString(16)}, offset ${offset}`).toEqual({ block, bits });
        }
      }
    }
  });

  it('float types have no block scales to check', () => {
    expect(findNonFiniteScale(GgmlType.F16, new Uint8Array([0, 0x7c, 0, 0x7e]))).toBeUndefined();
  });
});
