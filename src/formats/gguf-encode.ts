import { GemmaError } from '../errors.js';
import { tensorByteSize, type GgmlType } from './ggml-types.js';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_LIMITS, GgufValueType, type GgufValue } from './gguf-types.js';

/*
 * Encoding side of GGUF v3 (ggml docs/gguf.md): the header, metadata and
 * tensor directory as bytes, plus where each tensor's data goes. Browser-safe;
 * gguf-writer.ts streams the result and the tensor data to a file.
 */

export interface GgufMetadataEntry {
  key: string;
  type: GgufValueType;
  value: GgufValue;
  /** For arrays: the item type, or for nested arrays the item types outermost first (as GgufFile.arrayItemTypes). */
  itemType?: GgufValueType | GgufValueType[];
}

export interface GgufTensorHeader {
  name: string;
  /** Row-major (slowest dimension first); written to the file reversed, as GGUF's ne[]. */
  shape: number[];
  type: GgmlType;
}

export interface GgufTensorLayout extends GgufTensorHeader {
  /** Offset relative to the start of the data section (a multiple of the alignment). */
  offset: number;
  byteLength: number;
}

export interface EncodedGgufHeader {
  /** Everything before the data section, zero-padded to the alignment. */
  header: Uint8Array;
  tensors: GgufTensorLayout[];
  /** Size of the data section, each tensor padded to the alignment. */
  dataSize: number;
  alignment: number;
}

const encoder = new TextEncoder();

class ByteWriter {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private room(n: number): number {
    if (this.length + n > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }

  // Each writer reserves room first: room() may replace this.buf and this.view.
  u8(v: number): void { const at = this.room(1); this.view.setUint8(at, v); }
  i8(v: number): void { const at = this.room(1); this.view.setInt8(at, v); }
  u16(v: number): void { const at = this.room(2); this.view.setUint16(at, v, true); }
  i16(v: number): void { const at = this.room(2); this.view.setInt16(at, v, true); }
  u32(v: number): void { const at = this.room(4); this.view.setUint32(at, v, true); }
  i32(v: number): void { const at = this.room(4); this.view.setInt32(at, v, true); }
  f32(v: number): void { const at = this.room(4); this.view.setFloat32(at, v, true); }
  f64(v: number): void { const at = this.room(8); this.view.setFloat64(at, v, true); }
  u64(v: bigint): void { const at = this.room(8); this.view.setBigUint64(at, v, true); }
  i64(v: bigint): void { const at = this.room(8); this.view.setBigInt64(at, v, true); }
  bytes = (b: Uint8Array) => {
    const at = this.room(b.length);
    this.buf.set(b, at);
  };
  string = (s: string) => {
    const b = encoder.encode(s);
    this.u64(BigInt(b.length));
    this.bytes(b);
  };
  padTo = (alignment: number) => {
    this.room((alignment - (this.length % alignment)) % alignment);
  };
  finish = (): Uint8Array => this.buf.slice(0, this.length);
}

const INT_RANGE: Partial<Record<GgufValueType, [number, number]>> = {
  [GgufValueType.UINT8]: [0, 0xff],
  [GgufValueType.INT8]: [-0x80, 0x7f],
  [GgufValueType.UINT16]: [0, 0xffff],
  [GgufValueType.INT16]: [-0x8000, 0x7fff],
  [GgufValueType.UINT32]: [0, 0xffffffff],
  [GgufValueType.INT32]: [-0x80000000, 0x7fffffff],
};

const NO_ITEMS: GgufValueType[] = [];

function encodeValue(w: ByteWriter, type: GgufValueType, value: GgufValue, items: GgufValueType[], key: string): void {
  const bad = () =>
    new GemmaError(`GGUF metadata ${key}: ${Array.isArray(value) ? 'array' : String(value)} is not a valid ${GgufValueType[type] ?? `type ${type}`}`);
  const range = INT_RANGE[type];
  if (range) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < range[0] || value > range[1]) throw bad();
    if (type === GgufValueType.UINT8) w.u8(value);
    else if (type === GgufValueType.INT8) w.i8(value);
    else if (type === GgufValueType.UINT16) w.u16(value);
    else if (type === GgufValueType.INT16) w.i16(value);
    else if (type === GgufValueType.UINT32) w.u32(value);
    else w.i32(value);
    return;
  }
  switch (type) {
    case GgufValueType.UINT64:
    case GgufValueType.INT64: {
      if (typeof value !== 'bigint' && !(typeof value === 'number' && Number.isSafeInteger(value))) throw bad();
      const v = BigInt(value);
      if (type === GgufValueType.UINT64) {
        if (v < 0n || v >= 1n << 64n) throw bad();
        w.u64(v);
      } else {
        if (v < -(1n << 63n) || v >= 1n << 63n) throw bad();
        w.i64(v);
      }
      return;
    }
    case GgufValueType.FLOAT32:
    case GgufValueType.FLOAT64:
      if (typeof value !== 'number') throw bad();
      if (type === GgufValueType.FLOAT32) w.f32(value);
      else w.f64(value);
      return;
    case GgufValueType.BOOL:
      if (typeof value !== 'boolean') throw bad();
      w.u8(value ? 1 : 0);
      return;
    case GgufValueType.STRING:
      if (typeof value !== 'string') throw bad();
      w.string(value);
      return;
    case GgufValueType.ARRAY: {
      if (!Array.isArray(value)) throw bad();
      const itemType = items[0];
      if (itemType === undefined) throw new GemmaError(`GGUF metadata ${key}: array needs an item type`);
      const rest = itemType === GgufValueType.ARRAY ? items.slice(1) : NO_ITEMS;
      w.u32(itemType);
      w.u64(BigInt(value.length));
      for (const item of value) encodeValue(w, itemType, item, rest, key);
      return;
    }
    default:
      throw new GemmaError(`GGUF metadata ${key}: unknown value type ${String(type)}`);
  }
}

/**
 * Encodes header, metadata and tensor directory. When `alignment` differs
 * from the default 32, a general.alignment (UINT32) entry is added unless the
 * metadata already has one, which must then agree.
 */
export function encodeGgufHeader(
  metadata: readonly GgufMetadataEntry[],
  tensors: readonly GgufTensorHeader[],
  alignment: number = GGUF_DEFAULT_ALIGNMENT,
): EncodedGgufHeader {
  if (!Number.isSafeInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
    throw new GemmaError(`GGUF alignment ${alignment} is not a power of two`);
  }
  const entries = [...metadata];
  const given = entries.find((e) => e.key === 'general.alignment');
  if (given && given.value !== alignment) {
    throw new GemmaError(`GGUF metadata general.alignment ${String(given.value)} disagrees with alignment ${alignment}`);
  }
  if (!given && alignment !== GGUF_DEFAULT_ALIGNMENT) {
    entries.unshift({ key: 'general.alignment', type: GgufValueType.UINT32, value: alignment });
  }
  const keys = new Set<string>();
  for (const e of entries) {
    if (keys.has(e.key)) throw new GemmaError(`GGUF metadata ${e.key}: duplicate key`);
    keys.add(e.key);
  }

  const layout: GgufTensorLayout[] = [];
  const names = new Set<string>();
  let dataSize = 0;
  for (const t of tensors) {
    if (names.has(t.name)) throw new GemmaError(`GGUF tensor ${t.name}: duplicate name`);
    names.add(t.name);
    if (t.shape.length > GGUF_LIMITS.maxDims) {
      throw new GemmaError(`GGUF tensor ${t.name}: ${t.shape.length} dimensions, at most ${GGUF_LIMITS.maxDims} allowed`);
    }
    const byteLength = tensorByteSize(t.type, t.shape, t.name);
    layout.push({ name: t.name, shape: [...t.shape], type: t.type, offset: dataSize, byteLength });
    dataSize += Math.ceil(byteLength / alignment) * alignment;
  }

  const w = new ByteWriter();
  w.bytes(encoder.encode('GGUF'));
  w.u32(3);
  w.u64(BigInt(layout.length));
  w.u64(BigInt(entries.length));
  for (const e of entries) {
    w.string(e.key);
    w.u32(e.type);
    const items = e.itemType === undefined ? NO_ITEMS : Array.isArray(e.itemType) ? e.itemType : [e.itemType];
    encodeValue(w, e.type, e.value, items, e.key);
  }
  for (const t of layout) {
    w.string(t.name);
    w.u32(t.shape.length);
    for (let d = t.shape.length - 1; d >= 0; d--) w.u64(BigInt(t.shape[d]!));
    w.u32(t.type);
    w.u64(BigInt(t.offset));
  }
  w.padTo(alignment);
  return { header: w.finish(), tensors: layout, dataSize, alignment };
}

/** Builders for metadata entries: `gguf.u32('gemma.block_count', 18)`. */
export const gguf = {
  str: (key: string, value: string): GgufMetadataEntry => ({ key, type: GgufValueType.STRING, value }),
  bool: (key: string, value: boolean): GgufMetadataEntry => ({ key, type: GgufValueType.BOOL, value }),
  u8: (key: string, value: number): GgufMetadataEntry => ({ key, type: GgufValueType.UINT8, value }),
  i8: (key: string, value: number): GgufMetadataEntry => ({ key, type: GgufValueType.INT8, value }),
  u16: (key: string, value: number): GgufMetadataEntry => ({ key, type: GgufValueType.UINT16, value }),
  i16: (key: string, value: number): GgufMetadataEntry => ({ key, type: GgufValueType.INT16, value }),
  u32: (key: string, value: number): GgufMetadataEntry => ({ key, type: GgufValueType.UINT32, value }),
  i32: (key: string, value: number): GgufMetadataEntry => ({ key, type: GgufValueType.INT32, value }),
  u64: (key: string, value: number | bigint): GgufMetadataEntry => ({ key, type: GgufValueType.UINT64, value }),
  i64: (key: string, value: number | bigint): GgufMetadataEntry => ({ key, type: GgufValueType.INT64, value }),
  f32: (key: string, value: number): GgufMetadataEntry => ({ key, type: GgufValueType.FLOAT32, value }),
  f64: (key: string, value: number): GgufMetadataEntry => ({ key, type: GgufValueType.FLOAT64, value }),
  array: (key: string, itemType: GgufValueType | GgufValueType[], value: GgufValue[]): GgufMetadataEntry => ({
    key,
    type: GgufValueType.ARRAY,
    value,
    itemType,
  }),
  strArray: (key: string, value: readonly string[]) => gguf.array(key, GgufValueType.STRING, [...value]),
  f32Array: (key: string, value: ArrayLike<number>) => gguf.array(key, GgufValueType.FLOAT32, Array.from(value)),
  i32Array: (key: string, value: ArrayLike<number>) => gguf.array(key, GgufValueType.INT32, Array.from(value)),
  u32Array: (key: string, value: ArrayLike<number>) => gguf.array(key, GgufValueType.UINT32, Array.from(value)),
  boolArray: (key: string, value: readonly boolean[]) => gguf.array(key, GgufValueType.BOOL, [...value]),
};
