import { describe, it, expect } from 'vitest';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { GemmaError } from '../../src/errors.js';
import { f32ArrayToBf16, f32ArrayToF16 } from '../../src/formats/dtype.js';
import { openFileSource } from '../../src/formats/file-source.js';
import { GgmlType } from '../../src/formats/ggml-types.js';
import {
  getArray,
  getBool,
  getNumber,
  getNumberArray,
  getOptionalNumber,
  getString,
  getStringArray,
  GgufValueType,
  readGguf,
  readGgufTensorData,
  type GgufFile,
} from '../../src/formats/gguf.js';
import { encodeGgufHeader, type GgufMetadataEntry } from '../../src/formats/gguf-encode.js';
import { gguf, writeGguf, type GgufTensorSpec } from '../../src/formats/gguf-writer.js';
import { bufferSource, type ByteSource } from '../../src/formats/source.js';
import { bytesOf, makeTempDir } from './helpers.js';

const dir = await makeTempDir();

const f32Data = new Float32Array([1, -2.5, 3.25, 0, 1e-8, 65504]);
const f16Data = new Uint16Array(4);
f32ArrayToF16(new Float32Array([0.5, -1, 2, 1000]), f16Data);
const bf16Data = new Uint16Array(6);
f32ArrayToBf16(new Float32Array([1, 2, 3, -4, 5e10, -6e-10]), bf16Data);
const q8Data = new Uint8Array(2 * 2 * 34).map((_, i) => (i * 37 + 11) & 0xff);

const tensors: GgufTensorSpec[] = [
  { name: 'f32', shape: [2, 3], type: GgmlType.F32, data: bytesOf(f32Data) },
  { name: 'f16', shape: [4], type: GgmlType.F16, data: bytesOf(f16Data) },
  { name: 'bf16', shape: [3, 2], type: GgmlType.BF16, data: () => bytesOf(bf16Data) },
  { name: 'q8_0', shape: [2, 64], type: GgmlType.Q8_0, data: async () => q8Data },
];

const tokens = Array.from({ length: 100_000 }, (_, i) => `tok_${i}_ü`);
const scores = Float32Array.from({ length: 100_000 }, (_, i) => Math.fround(i / 7));

const metadata: GgufMetadataEntry[] = [
  gguf.str('general.architecture', 'gemma'),
  gguf.str('general.name', 'héllo ✓ wörld'),
  gguf.u8('t.u8', 255),
  gguf.i8('t.i8', -128),
  gguf.u16('t.u16', 65535),
  gguf.i16('t.i16', -32768),
  gguf.u32('gemma.block_count', 4294967295),
  gguf.i32('t.i32', -2147483648),
  gguf.f32('t.f32', Math.fround(0.1)),
  gguf.f64('t.f64', 0.1),
  gguf.bool('t.true', true),
  gguf.bool('t.false', false),
  gguf.u64('t.u64.small', 42),
  gguf.u64('t.u64.safe', Number.MAX_SAFE_INTEGER),
  gguf.u64('t.u64.big', 2n ** 64n - 1n),
  gguf.i64('t.i64.neg', -(2n ** 63n)),
  gguf.i64('t.i64.small', -5),
  gguf.strArray('tokenizer.ggml.tokens', tokens),
  gguf.f32Array('tokenizer.ggml.scores', scores),
  gguf.i32Array('tokenizer.ggml.token_type', [1, -2, 3]),
  gguf.array('t.u64s', GgufValueType.UINT64, [1, 2n ** 60n]),
  gguf.array('t.empty', GgufValueType.UINT8, []),
  gguf.array('t.nested', [GgufValueType.ARRAY, GgufValueType.UINT32], [[1, 2], [], [3]]),
  gguf.array('t.nested3', [GgufValueType.ARRAY, GgufValueType.ARRAY, GgufValueType.STRING], [[['a'], ['b', 'c']], []]),
  gguf.array('t.bools', GgufValueType.BOOL, [true, false]),
];

/** Counts the bytes a reader requests. */
function counting(src: ByteSource): ByteSource & { bytesRead: number } {
  const wrapped = {
    name: src.name,
    size: src.size,
    bytesRead: 0,
    read: (offset: number, length: number) => {
      wrapped.bytesRead += length;
      return src.read(offset, length);
    },
    close: () => src.close(),
  };
  return wrapped;
}

async function roundTrip(alignment: number | undefined): Promise<{ file: GgufFile; progress: [number, number][] }> {
  const path = join(dir, `rt-${alignment}.gguf`);
  const progress: [number, number][] = [];
  await writeGguf(path, metadata, tensors, { alignment, onProgress: (d, t) => progress.push([d, t]) });
  const file = await readGguf(await openFileSource(path));
  return { file, progress };
}

describe('GGUF round trip', () => {
  for (const alignment of [undefined, 64]) {
    it(`writes and reads every metadata type and tensor type (alignment ${alignment ?? 'default'})`, async () => {
      const { file, progress } = await roundTrip(alignment);
      const align = alignment ?? 32;
      expect(file.version).toBe(3);
      expect(file.alignment).toBe(align);
      expect(file.dataOffset % align).toBe(0);
      expect(file.metadata.get('general.alignment')).toBe(alignment);

      for (const e of metadata) {
        expect(file.metadata.get(e.key), e.key).toEqual(e.value);
        expect(file.metadataTypes.get(e.key), e.key).toBe(e.type);
      }
      expect(typeof file.metadata.get('t.u64.big')).toBe('bigint');
      expect(typeof file.metadata.get('t.u64.safe')).toBe('number');
      expect(file.arrayItemTypes.get('t.nested')).toEqual([GgufValueType.ARRAY, GgufValueType.UINT32]);
      expect(file.arrayItemTypes.get('t.nested3')).toEqual([GgufValueType.ARRAY, GgufValueType.ARRAY, GgufValueType.STRING]);
      expect(file.arrayItemTypes.get('tokenizer.ggml.tokens')).toEqual([GgufValueType.STRING]);

      expect(file.tensors.map((t) => [t.name, t.shape, t.type])).toEqual(tensors.map((t) => [t.name, t.shape, t.type]));
      const expected = [bytesOf(f32Data), bytesOf(f16Data), bytesOf(bf16Data), q8Data];
      for (const [i, t] of file.tensors.entries()) {
        expect(t.offset % align).toBe(0);
        expect([...(await readGgufTensorData(file, t))]).toEqual([...expected[i]!]);
      }
      const total = file.source.size;
      expect(progress.at(-1)).toEqual([total, total]);
      await file.source.close();
    });
  }

  it('exposes typed metadata accessors with clear errors', async () => {
    const { file } = await roundTrip(undefined);
    expect(getString(file, 'general.architecture')).toBe('gemma');
    expect(getNumber(file, 'gemma.block_count')).toBe(4294967295);
    expect(getBool(file, 't.true')).toBe(true);
    expect(getStringArray(file, 'tokenizer.ggml.tokens')[99_999]).toBe('tok_99999_ü');
    expect(getNumberArray(file, 'tokenizer.ggml.scores')[700]).toBe(100);
    expect(getArray(file, 't.nested')).toEqual([[1, 2], [], [3]]);
    expect(getOptionalNumber(file, 'gemma.context_length')).toBeUndefined();
    expect(() => getNumber(file, 'gemma.context_length')).toThrow('rt-undefined.gguf: metadata key gemma.context_length missing');
    expect(() => getNumber(file, 'general.name')).toThrow('metadata key general.name has type STRING, expected a number');
    expect(() => getString(file, 't.u8')).toThrow('metadata key t.u8 has type UINT8, expected STRING');
    expect(() => getStringArray(file, 'tokenizer.ggml.scores')).toThrow('has type ARRAY of FLOAT32, expected ARRAY of STRING');
    expect(() => getNumber(file, 't.u64.big')).toThrow('too large');
    await file.source.close();
  });

  it('reads the header in chunks, not the whole file', async () => {
    const path = join(dir, 'big-data.gguf');
    const big = new Uint8Array(8 << 20);
    await writeGguf(path, [gguf.str('general.architecture', 'gemma')], [
      { name: 'w', shape: [2 << 20], type: GgmlType.F32, data: big },
    ]);
    const src = counting(await openFileSource(path));
    const file = await readGguf(src);
    expect(file.tensors[0]!.byteLength).toBe(8 << 20);
    expect(src.bytesRead).toBeLessThanOrEqual(1 << 20);
    await src.close();
  });

  it('rejects bad tensor data and leaves no output behind', async () => {
    const path = join(dir, 'bad', 'x.gguf');
    await expect(
      writeGguf(join(dir, 'short.gguf'), [], [{ name: 'w', shape: [4], type: GgmlType.F32, data: new Uint8Array(15) }]),
    ).rejects.toThrow('short.gguf: tensor w: data is 15 bytes, F32 [4] needs 16 bytes');
    await expect(
      writeGguf(join(dir, 'lazy.gguf'), [], [{ name: 'q', shape: [1, 32], type: GgmlType.Q8_0, data: () => new Uint8Array(32) }]),
    ).rejects.toThrow('lazy.gguf: tensor q: data is 32 bytes, Q8_0 [1, 32] needs 34 bytes');
    await expect(
      writeGguf(join(dir, 'throws.gguf'), [], [{ name: 'w', shape: [1], type: GgmlType.F32, data: () => Promise.reject(new GemmaError('boom')) }]),
    ).rejects.toThrow('boom');
    const files = await readdir(dir);
    expect(files.filter((f) => /short|lazy|throws/.test(f))).toEqual([]);
    await expect(writeGguf(path, [], [])).rejects.toThrow('no such file');
    expect(() => encodeGgufHeader([gguf.u8('k', 300)], [])).toThrow('GGUF metadata k: 300 is not a valid UINT8');
    expect(() => encodeGgufHeader([gguf.str('k', 'a'), gguf.str('k', 'b')], [])).toThrow('duplicate key');
    expect(() => encodeGgufHeader([], [{ name: 'w', shape: [3, 33], type: GgmlType.Q4_0 }])).toThrow(
      'tensor w: row length 33 is not a multiple of the Q4_0 block size 32',
    );
  });
});

/** An in-memory GGUF (header + zeroed data) for corrupting. */
function build(meta: GgufMetadataEntry[], specs: { name: string; shape: number[]; type: GgmlType }[]): Uint8Array {
  const { header, dataSize } = encodeGgufHeader(meta, specs);
  const out = new Uint8Array(header.length + dataSize);
  out.set(header);
  return out;
}

const u64At = (b: Uint8Array, at: number, v: bigint) => new DataView(b.buffer).setBigUint64(at, v, true);
const u32At = (b: Uint8Array, at: number, v: number) => new DataView(b.buffer).setUint32(at, v, true);
const read = (b: Uint8Array) => readGguf(bufferSource(b, 'model.gguf'));

// Byte positions below follow the layout: magic 0, version 4, tensor count 8,
// kv count 16, first kv key length 24 (or first tensor name length 24 without metadata).
const oneTensor = () => build([], [{ name: 't', shape: [4], type: GgmlType.F32 }]);
// Tensor "t": name length 24, name 32, n_dims 33, ne[0] 37, type 45, offset 49.

describe('GGUF bad input', () => {
  it('rejects bad magic, version 1, big-endian and unknown versions', async () => {
    const b = oneTensor();
    b.set([0x47, 0x47, 0x4d, 0x4c]);
    await expect(read(b)).rejects.toThrow('model.gguf: not a GGUF file: bad magic "GGML"');
    const v1 = oneTensor();
    u32At(v1, 4, 1);
    await expect(read(v1)).rejects.toThrow('model.gguf: GGUF version 1 is not supported');
    const be = oneTensor();
    be.set([0, 0, 0, 3], 4);
    await expect(read(be)).rejects.toThrow('model.gguf: big-endian GGUF files are not supported');
    const v9 = oneTensor();
    u32At(v9, 4, 9);
    await expect(read(v9)).rejects.toThrow('unsupported GGUF version 9');
    await expect(read(new Uint8Array([0x47, 0x47]))).rejects.toThrow('model.gguf: truncated while reading magic');
  });

  it('rejects truncated headers and data', async () => {
    const b = build([gguf.str('general.name', 'abcdef')], [{ name: 't', shape: [4], type: GgmlType.F32 }]);
    await expect(read(b.subarray(0, 20))).rejects.toThrow('model.gguf: truncated while reading tensor and metadata counts');
    await expect(read(b.subarray(0, 50))).rejects.toThrow('model.gguf: truncated while reading metadata key general.name');
    // The data section is the 16 tensor bytes plus 16 bytes of padding.
    await expect(read(b.subarray(0, b.length - 17))).rejects.toThrow(
      `model.gguf: tensor t: data range ${b.length - 32}..${b.length - 16} is outside the file (size ${b.length - 17})`,
    );
  });

  it('checks counts and lengths against the file size before allocating', async () => {
    const b = oneTensor();
    u64At(b, 8, 9999999999n);
    await expect(read(b)).rejects.toThrow('model.gguf: tensor count 9999999999 is larger than the file allows');
    const kv = oneTensor();
    u64At(kv, 16, 9999999999n);
    await expect(read(kv)).rejects.toThrow('model.gguf: metadata kv count 9999999999 is larger than the file allows');
    const key = build([gguf.str('a', 'hello')], []);
    u64At(key, 24, 2n ** 63n);
    await expect(read(key)).rejects.toThrow(`model.gguf: metadata key #0: string length ${2n ** 63n} is larger than the file allows`);
    // Key "a" at 24..33, value type 33..37, string length at 37.
    const str = build([gguf.str('a', 'hello')], []);
    u64At(str, 37, 1000n);
    await expect(read(str)).rejects.toThrow('model.gguf: metadata key a: string length 1000 is larger than the file allows');
    // Key "arr" at 24..35, value type 35..39, item type 39..43, count at 43.
    const arr = build([gguf.i32Array('arr', [1, 2, 3])], []);
    u64At(arr, 43, 1_000_000_000n);
    await expect(read(arr)).rejects.toThrow('model.gguf: metadata key arr: array length 1000000000 is larger than the file allows');
    const name = oneTensor();
    u64At(name, 24, 500n);
    await expect(read(name)).rejects.toThrow('model.gguf: tensor #0 name: string length 500 is larger than the file allows');
  });

  it('checks n_dims, dimensions, types and data offsets', async () => {
    const nd = oneTensor();
    u32At(nd, 33, 5);
    await expect(read(nd)).rejects.toThrow('model.gguf: tensor t: n_dims 5 exceeds the maximum of 4');
    const dim = oneTensor();
    u64At(dim, 37, 2n ** 40n);
    await expect(read(dim)).rejects.toThrow('model.gguf: tensor t: dimension ne[0] = 1099511627776 is larger than the file allows');
    const prod = build([], [{ name: 'm', shape: [2, 4], type: GgmlType.F32 }]);
    u64At(prod, 37, 100n);
    u64At(prod, 45, 100n);
    await expect(read(prod)).rejects.toThrow('model.gguf: tensor m: dimensions [100, 100] are larger than the file allows');
    const type = oneTensor();
    u32At(type, 45, 99);
    await expect(read(type)).rejects.toThrow('model.gguf: tensor t: unsupported GGML type id 99');
    const off = oneTensor();
    u64At(off, 49, 64n);
    await expect(read(off)).rejects.toThrow('model.gguf: tensor t: data range 128..144 is outside the file (size 96)');
    const far = oneTensor();
    u64At(far, 49, 2n ** 62n);
    await expect(read(far)).rejects.toThrow(`model.gguf: tensor t: data offset ${2n ** 62n} is outside the file`);
    const mis = oneTensor();
    u64At(mis, 49, 4n);
    await expect(read(mis)).rejects.toThrow('model.gguf: tensor t: data offset 4 is not a multiple of the alignment 32');
  });

  it('rejects overlapping tensors, duplicates, bad bools and bad alignment', async () => {
    const two = build([], [
      { name: 'a', shape: [8], type: GgmlType.F32 },
      { name: 'b', shape: [8], type: GgmlType.F32 },
    ]);
    // Tensor "b": name length 57, name 65, n_dims 66, ne[0] 70, type 78, offset 82.
    u64At(two, 82, 0n);
    await expect(read(two)).rejects.toThrow('model.gguf: tensors a and b overlap');
    const dupe = build([gguf.str('a', 'x'), gguf.str('b', 'y')], []);
    // Key "a" at 24..33, type 33..37, value 37..46; key "b" has its length at 46 and its name at 54.
    dupe[54] = 'a'.charCodeAt(0);
    await expect(read(dupe)).rejects.toThrow('model.gguf: duplicate metadata key a');
    // Key "flag" at 24..36, type 36..40, value at 40.
    const bool = build([gguf.bool('flag', true)], []);
    bool[40] = 2;
    await expect(read(bool)).rejects.toThrow('model.gguf: metadata key flag: invalid bool byte 2');
    // Key "general.alignment" at 24..49, type 49..53, value at 53.
    const align = build([gguf.u32('general.alignment', 32)], []);
    u32At(align, 53, 48);
    await expect(read(align)).rejects.toThrow('model.gguf: general.alignment 48 is not a power of two');
    const vt = build([gguf.u32('k', 1)], []);
    u32At(vt, 33, 13);
    await expect(read(vt)).rejects.toThrow('model.gguf: metadata key k: unknown value type 13');
  });

  it('reports a missing file', async () => {
    await expect(openFileSource(join(dir, 'missing.gguf'))).rejects.toThrow(`no such file: ${join(dir, 'missing.gguf')}`);
  });
});
