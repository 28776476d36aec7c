import { describe, it, expect } from 'vitest';
import { GemmaError } from '../../src/errors.js';
import { GGML_TYPE_INFO, GgmlType, ggmlTypeInfo, ggmlTypeName, tensorByteSize } from '../../src/formats/ggml-types.js';

describe('GGML types', () => {
  it('has the block geometry ggml defines', () => {
    const expected: Record<string, [number, number]> = {
      F32: [1, 4], F16: [1, 2], BF16: [1, 2], Q4_0: [32, 18], Q4_1: [32, 20], Q5_0: [32, 22], Q5_1: [32, 24],
      Q8_0: [32, 34], Q8_1: [32, 36], Q2_K: [256, 84], Q3_K: [256, 110], Q4_K: [256, 144], Q5_K: [256, 176],
      Q6_K: [256, 210], Q8_K: [256, 292], IQ4_NL: [32, 18], IQ4_XS: [256, 136], I8: [1, 1], F64: [1, 8],
    };
    for (const [name, [blockSize, typeSize]] of Object.entries(expected)) {
      const type = GgmlType[name as keyof typeof GgmlType];
      expect(GGML_TYPE_INFO[type], name).toEqual({ name, blockSize, typeSize });
    }
    expect(GgmlType.BF16).toBe(30);
    expect(GgmlType.Q8_0).toBe(8);
  });

  it('describes every enum member, under its enum name', () => {
    const ids = Object.values(GgmlType).filter((v): v is number => typeof v === 'number');
    expect(ids.length).toBe(Object.keys(GGML_TYPE_INFO).length);
    for (const id of ids) expect(GGML_TYPE_INFO[id]!.name).toBe(GgmlType[id]);
  });

  it('computes tensor byte sizes for row-major shapes', () => {
    expect(tensorByteSize(GgmlType.F32, [2, 3])).toBe(24);
    expect(tensorByteSize(GgmlType.BF16, [5])).toBe(10);
    expect(tensorByteSize(GgmlType.F32, [])).toBe(4);
    expect(tensorByteSize(GgmlType.Q8_0, [4, 64])).toBe(4 * 2 * 34);
    expect(tensorByteSize(GgmlType.Q4_K, [3, 512])).toBe(3 * 2 * 144);
    expect(tensorByteSize(GgmlType.F16, [0, 7])).toBe(0);
    // A Gemma 7B embedding table in F32 is beyond 2^32 bytes.
    expect(tensorByteSize(GgmlType.F32, [256000, 3072])).toBe(3_145_728_000);
  });

  it('rejects rows that are not whole blocks, and unknown ids', () => {
    expect(() => tensorByteSize(GgmlType.Q8_0, [64, 33], 'blk.0.w')).toThrow(
      'tensor blk.0.w: row length 33 is not a multiple of the Q8_0 block size 32',
    );
    expect(() => tensorByteSize(99, [4], 'x')).toThrow(GemmaError);
    expect(() => ggmlTypeInfo(99, 'x')).toThrow('tensor x: unsupported GGML type id 99');
    expect(() => ggmlTypeInfo(4, 'y')).toThrow('tensor y: unsupported GGML type id 4');
    expect(() => tensorByteSize(GgmlType.F32, [-1, 2], 'z')).toThrow('tensor z: invalid dimension -1');
    expect(ggmlTypeName(GgmlType.Q6_K)).toBe('Q6_K');
    expect(ggmlTypeName(99)).toBe('unknown GGML type 99');
  });
});
