import { GemmaError } from '../errors.js';
import { GGML_TYPE_INFO, isKnownGgmlType, tensorByteSize } from './ggml-types.js';
import {
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_LIMITS,
  GGUF_MAGIC,
  GGUF_SCALAR_SIZE,
  GgufValueType,
  isGgufValueType,
  minEncodedSize,
  type GgufFile,
  type GgufTensorInfo,
  type GgufValue,
} from './gguf-types.js';
import { findOverlap, type ByteSource } from './source.js';

export * from './gguf-types.js';

/* GGUF reader; the layout it parses is summarised in gguf-types.ts. */

const CHUNK = 1 << 20;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Sequential little-endian reader that pulls the header from the source one chunk at a time. */
class HeaderReader {
  pos = 0;
  private buf: Uint8Array = new Uint8Array(0);
  private view = new DataView(this.buf.buffer);
  private bufStart = 0;
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: true });

  constructor(readonly src: ByteSource) {}

  fail(message: string): GemmaError {
    return new GemmaError(`${this.src.name}: ${message}`);
  }

  /** Bytes left in the file after the current position. */
  get left(): number {
    return this.src.size - this.pos;
  }

  avail(): number {
    return this.bufStart + this.buf.length - this.pos;
  }

  async need(n: number, what: string): Promise<void> {
    if (this.avail() >= n) return;
    if (n > this.left) {
      throw this.fail(`truncated while reading ${what}: need bytes ${this.pos}..${this.pos + n}, file has ${this.src.size}`);
    }
    this.buf = await this.src.read(this.pos, Math.min(Math.max(n, CHUNK), this.left));
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.bufStart = this.pos;
  }

  private take(n: number): number {
    const i = this.pos - this.bufStart;
    this.pos += n;
    return i;
  }

  u8 = (): number => this.buf[this.take(1)]!;
  i8 = (): number => this.view.getInt8(this.take(1));
  u16 = (): number => this.view.getUint16(this.take(2), true);
  i16 = (): number => this.view.getInt16(this.take(2), true);
  u32 = (): number => this.view.getUint32(this.take(4), true);
  i32 = (): number => this.view.getInt32(this.take(4), true);
  f32 = (): number => this.view.getFloat32(this.take(4), true);
  f64 = (): number => this.view.getFloat64(this.take(8), true);
  u64 = (): bigint => this.view.getBigUint64(this.take(8), true);
  i64 = (): bigint => this.view.getBigInt64(this.take(8), true);
  text = (n: number): string => {
    const i = this.take(n);
    return this.decoder.decode(this.buf.subarray(i, i + n));
  };

  /** A count or length from the file, checked against the bytes left (each item taking ≥ minBytes) and a hard cap. */
  count(v: bigint, minBytes: number, cap: number, what: string): number {
    if (v * BigInt(minBytes) > BigInt(this.left)) throw this.fail(`${what} ${v} is larger than the file allows`);
    if (v > BigInt(cap)) throw this.fail(`${what} ${v} exceeds the limit of ${cap}`);
    return Number(v);
  }

  async string(what: string, cap: number = GGUF_LIMITS.maxStringLength): Promise<string> {
    if (this.avail() < 8) await this.need(8, `${what} length`);
    const len = this.count(this.u64(), 1, cap, `${what}: string length`);
    if (this.avail() < len) await this.need(len, what);
    return this.text(len);
  }
}

function int64Value(v: bigint): number | bigint {
  return v <= MAX_SAFE && v >= -MAX_SAFE ? Number(v) : v;
}

/** One fixed-size value; the caller has made sure its bytes are buffered. */
function readScalar(r: HeaderReader, type: GgufValueType, what: string): GgufValue {
  switch (type) {
    case GgufValueType.UINT8: return r.u8();
    case GgufValueType.INT8: return r.i8();
    case GgufValueType.UINT16: return r.u16();
    case GgufValueType.INT16: return r.i16();
    case GgufValueType.UINT32: return r.u32();
    case GgufValueType.INT32: return r.i32();
    case GgufValueType.FLOAT32: return r.f32();
    case GgufValueType.FLOAT64: return r.f64();
    case GgufValueType.UINT64: return int64Value(r.u64());
    case GgufValueType.INT64: return int64Value(r.i64());
    case GgufValueType.BOOL: {
      const b = r.u8();
      // The spec allows only 0 (false) and 1 (true).
      if (b > 1) throw r.fail(`${what}: invalid bool byte ${b}`);
      return b === 1;
    }
    default:
      throw r.fail(`${what}: value type ${type} is not a scalar`);
  }
}

interface ReadValue {
  value: GgufValue;
  itemTypes?: GgufValueType[];
}

async function readValue(r: HeaderReader, type: GgufValueType, what: string, depth: number): Promise<ReadValue> {
  if (type === GgufValueType.STRING) return { value: await r.string(what) };
  if (type !== GgufValueType.ARRAY) {
    await r.need(GGUF_SCALAR_SIZE[type]!, what);
    return { value: readScalar(r, type, what) };
  }
  if (depth >= GGUF_LIMITS.maxArrayDepth) {
    throw r.fail(`${what}: arrays nested deeper than ${GGUF_LIMITS.maxArrayDepth} levels`);
  }
  await r.need(12, `${what} array header`);
  const itemType = r.u32();
  if (!isGgufValueType(itemType)) throw r.fail(`${what}: unknown array item type ${itemType}`);
  const itemSize = minEncodedSize(itemType);
  const n = r.count(r.u64(), itemSize, GGUF_LIMITS.maxArrayLength, `${what}: array length`);
  const items: GgufValue[] = new Array(n);
  const scalarSize = GGUF_SCALAR_SIZE[itemType];
  let inner: GgufValueType[] | undefined;
  if (scalarSize !== undefined) {
    for (let i = 0; i < n; ) {
      if (r.avail() < scalarSize) await r.need(Math.min((n - i) * scalarSize, CHUNK), what);
      const end = Math.min(n, i + Math.floor(r.avail() / scalarSize));
      while (i < end) items[i++] = readScalar(r, itemType, what);
    }
  } else {
    for (let i = 0; i < n; i++) {
      const item = await readValue(r, itemType, what, depth + 1);
      items[i] = item.value;
      if (i === 0) inner = item.itemTypes;
    }
  }
  return { value: items, itemTypes: [itemType, ...(inner ?? [])] };
}

function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0 && n <= 2 ** 30;
}

/** Parses the header, metadata and tensor directory; tensor data stays in the source. */
export async function readGguf(source: ByteSource): Promise<GgufFile> {
  const r = new HeaderReader(source);
  await r.need(4, 'magic');
  const magic = r.text(4);
  if (magic !== GGUF_MAGIC) throw r.fail(`not a GGUF file: bad magic ${JSON.stringify(magic)}, expected "GGUF"`);
  await r.need(4, 'version');
  const version = r.u32();
  const swapped = ((version & 0xff) << 24 | (version & 0xff00) << 8 | (version >>> 8) & 0xff00 | version >>> 24) >>> 0;
  if (version === 1) throw r.fail('GGUF version 1 is not supported (only versions 2 and 3)');
  if (version !== 2 && version !== 3) {
    if (swapped >= 1 && swapped <= 3) throw r.fail('big-endian GGUF files are not supported');
    throw r.fail(`unsupported GGUF version ${version} (only versions 2 and 3)`);
  }
  await r.need(16, 'tensor and metadata counts');
  const tensorCount64 = r.u64();
  const kvCount64 = r.u64();
  // Each tensor info takes at least 24 bytes (name length, n_dims, type, offset); each kv at least 13.
  const tensorCount = r.count(tensorCount64, 24, GGUF_LIMITS.maxTensors, 'tensor count');
  const kvCount = r.count(kvCount64, 13, GGUF_LIMITS.maxKeyValues, 'metadata kv count');

  const metadata = new Map<string, GgufValue>();
  const metadataTypes = new Map<string, GgufValueType>();
  const arrayItemTypes = new Map<string, GgufValueType[]>();
  for (let i = 0; i < kvCount; i++) {
    // The spec caps keys at 65535 bytes.
    const key = await r.string(`metadata key #${i}`, 65535);
    if (metadata.has(key)) throw r.fail(`duplicate metadata key ${key}`);
    const what = `metadata key ${key}`;
    await r.need(4, `${what} type`);
    const type = r.u32();
    if (!isGgufValueType(type)) throw r.fail(`${what}: unknown value type ${type}`);
    const { value, itemTypes } = await readValue(r, type, what, 0);
    metadata.set(key, value);
    metadataTypes.set(key, type);
    if (itemTypes) arrayItemTypes.set(key, itemTypes);
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const alignValue = metadata.get('general.alignment');
  if (alignValue !== undefined) {
    if (typeof alignValue !== 'number' || !isPowerOfTwo(alignValue)) {
      throw r.fail(`general.alignment ${String(alignValue)} is not a power of two`);
    }
    alignment = alignValue;
  }

  const tensors: GgufTensorInfo[] = [];
  const relOffsets: number[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = await r.string(`tensor #${i} name`, 65535);
    if (names.has(name)) throw r.fail(`duplicate tensor name ${name}`);
    names.add(name);
    const what = `tensor ${name}`;
    await r.need(4, `${what} n_dims`);
    const nDims = r.u32();
    if (nDims > GGUF_LIMITS.maxDims) throw r.fail(`${what}: n_dims ${nDims} exceeds the maximum of ${GGUF_LIMITS.maxDims}`);
    await r.need(8 * nDims + 12, `${what} info`);
    const ne: bigint[] = [];
    for (let d = 0; d < nDims; d++) {
      const v = r.u64();
      // No GGML type packs more than 8 elements per byte.
      if (v > BigInt(source.size) * 8n) throw r.fail(`${what}: dimension ne[${d}] = ${v} is larger than the file allows`);
      ne.push(v);
    }
    const type = r.u32();
    if (!isKnownGgmlType(type)) throw r.fail(`${what}: unsupported GGML type id ${type}`);
    const { blockSize, typeSize } = GGML_TYPE_INFO[type]!;
    const elements = ne.reduce((a, b) => a * b, 1n);
    if ((elements / BigInt(blockSize)) * BigInt(typeSize) > BigInt(source.size)) {
      throw r.fail(`${what}: dimensions [${ne.join(', ')}] are larger than the file allows`);
    }
    const shape = ne.map(Number).reverse();
    let byteLength: number;
    try {
      byteLength = tensorByteSize(type, shape, name);
    } catch (err) {
      throw r.fail(err instanceof Error ? err.message : String(err));
    }
    const rel = r.u64();
    if (rel > BigInt(source.size)) throw r.fail(`${what}: data offset ${rel} is outside the file (size ${source.size})`);
    const relOffset = Number(rel);
    if (relOffset % alignment !== 0) {
      throw r.fail(`${what}: data offset ${relOffset} is not a multiple of the alignment ${alignment}`);
    }
    relOffsets.push(relOffset);
    tensors.push({ name, shape, type, offset: 0, byteLength });
  }

  const dataOffset = Math.ceil(r.pos / alignment) * alignment;
  tensors.forEach((t, i) => {
    t.offset = dataOffset + relOffsets[i]!;
    if (t.offset + t.byteLength > source.size) {
      throw r.fail(`tensor ${t.name}: data range ${t.offset}..${t.offset + t.byteLength} is outside the file (size ${source.size})`);
    }
  });
  const overlap = findOverlap(tensors);
  if (overlap) throw r.fail(`tensors ${overlap[0]} and ${overlap[1]} overlap`);

  return { source, version, metadata, metadataTypes, arrayItemTypes, tensors, alignment, dataOffset };
}

/** The raw bytes of one tensor. */
export function readGgufTensorData(file: GgufFile, tensor: GgufTensorInfo): Promise<Uint8Array> {
  return file.source.read(tensor.offset, tensor.byteLength);
}

export function findGgufTensor(file: GgufFile, name: string): GgufTensorInfo | undefined {
  return file.tensors.find((t) => t.name === name);
}

// Typed metadata accessors. Errors name the file and key.

function typeName(file: GgufFile, key: string): string {
  const t = file.metadataTypes.get(key);
  if (t === undefined) return 'unknown';
  const items = file.arrayItemTypes.get(key);
  return items ? `ARRAY of ${GgufValueType[items[0]!]}` : GgufValueType[t]!;
}

function wrongType(file: GgufFile, key: string, expected: string): GemmaError {
  return new GemmaError(`${file.source.name}: metadata key ${key} has type ${typeName(file, key)}, expected ${expected}`);
}

export function hasKey(file: GgufFile, key: string): boolean {
  return file.metadata.has(key);
}

export function getValue(file: GgufFile, key: string): GgufValue {
  const v = file.metadata.get(key);
  if (v === undefined) throw new GemmaError(`${file.source.name}: metadata key ${key} missing`);
  return v;
}

export function getString(file: GgufFile, key: string): string {
  const v = getValue(file, key);
  if (typeof v !== 'string') throw wrongType(file, key, 'STRING');
  return v;
}

/** Any integer or float value; 64-bit integers beyond 2^53 are rejected. */
export function getNumber(file: GgufFile, key: string): number {
  const v = getValue(file, key);
  if (typeof v === 'bigint') throw new GemmaError(`${file.source.name}: metadata key ${key} value ${v} is too large`);
  if (typeof v !== 'number') throw wrongType(file, key, 'a number');
  return v;
}

export function getBool(file: GgufFile, key: string): boolean {
  const v = getValue(file, key);
  if (typeof v !== 'boolean') throw wrongType(file, key, 'BOOL');
  return v;
}

export function getArray(file: GgufFile, key: string): GgufValue[] {
  const v = getValue(file, key);
  if (!Array.isArray(v)) throw wrongType(file, key, 'ARRAY');
  return v;
}

export function getStringArray(file: GgufFile, key: string): string[] {
  const v = getArray(file, key);
  if (file.arrayItemTypes.get(key)?.[0] !== GgufValueType.STRING) throw wrongType(file, key, 'ARRAY of STRING');
  return v as string[];
}

export function getNumberArray(file: GgufFile, key: string): number[] {
  const v = getArray(file, key);
  const t = file.arrayItemTypes.get(key)?.[0];
  if (t === undefined || t === GgufValueType.STRING || t === GgufValueType.ARRAY || t === GgufValueType.BOOL) {
    throw wrongType(file, key, 'ARRAY of numbers');
  }
  const bad = v.find((x) => typeof x !== 'number');
  if (bad !== undefined) throw new GemmaError(`${file.source.name}: metadata key ${key} holds value ${String(bad)}, too large`);
  return v as number[];
}

export function getOptionalString(file: GgufFile, key: string): string | undefined {
  return file.metadata.has(key) ? getString(file, key) : undefined;
}

export function getOptionalNumber(file: GgufFile, key: string): number | undefined {
  return file.metadata.has(key) ? getNumber(file, key) : undefined;
}

export function getOptionalBool(file: GgufFile, key: string): boolean | undefined {
  return file.metadata.has(key) ? getBool(file, key) : undefined;
}
