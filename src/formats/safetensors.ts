import { GemmaError } from '../errors.js';
import { findOverlap, type ByteSource } from './source.js';

/*
 * safetensors layout (github.com/huggingface/safetensors, "Format"):
 *   u64 little-endian N | N bytes of UTF-8 JSON header | byte buffer
 * The header maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]}
 * with offsets relative to the byte buffer (end exclusive), plus an optional
 * "__metadata__" object of string → string. Data is little-endian, row-major.
 * The reference implementation caps N at 100 MB and pads the JSON with spaces
 * so the byte buffer starts 8-byte aligned.
 */

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | string;

export interface SafetensorsTensor {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute byte offset in the file. */
  offset: number;
  byteLength: number;
  source: ByteSource;
}

export interface SafetensorsFile {
  tensors: SafetensorsTensor[];
  metadata: Record<string, string>;
}

export const SAFETENSORS_MAX_HEADER = 100_000_000;

/** Bits per element of every dtype the format defines (F4/F6 pack several elements per byte). */
export const SAFETENSORS_DTYPE_BITS: Readonly<Record<string, number>> = Object.freeze({
  BOOL: 8,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  I64: 64,
  U64: 64,
  F64: 64,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
});

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Bytes for `shape` of `dtype`; throws with `where` (e.g. "model.safetensors: tensor x") on bad input. */
export function safetensorsByteSize(dtype: string, shape: readonly number[], where: string): number {
  const bits = SAFETENSORS_DTYPE_BITS[dtype];
  if (bits === undefined) throw new GemmaError(`${where}: unknown dtype ${dtype}`);
  let n = 1;
  for (const d of shape) {
    if (!isIndex(d)) throw new GemmaError(`${where}: invalid dimension ${String(d)} in shape`);
    n *= d;
  }
  const totalBits = n * bits;
  if (!Number.isSafeInteger(totalBits)) throw new GemmaError(`${where}: shape [${shape.join(', ')}] is too large`);
  if (totalBits % 8 !== 0) throw new GemmaError(`${where}: ${n} elements of ${dtype} do not fill whole bytes`);
  return totalBits / 8;
}

/** Reads and validates the header; tensor data stays in the source. */
export async function readSafetensors(source: ByteSource): Promise<SafetensorsFile> {
  const file = source.name;
  const fail = (msg: string) => new GemmaError(`${file}: ${msg}`);
  if (source.size < 8) throw fail(`truncated: need 8 bytes for the header length, file has ${source.size}`);
  const lenBytes = await source.read(0, 8);
  const headerLen = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLen > BigInt(source.size - 8)) {
    throw fail(`header length ${headerLen} is larger than the file allows (file has ${source.size} bytes)`);
  }
  if (headerLen > BigInt(SAFETENSORS_MAX_HEADER)) {
    throw fail(`header length ${headerLen} exceeds the limit of ${SAFETENSORS_MAX_HEADER} bytes`);
  }
  const n = Number(headerLen);
  const headerBytes = await source.read(8, n);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (err) {
    throw fail(`header is not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw fail('header is not a JSON object');

  const dataStart = 8 + n;
  const dataSize = source.size - dataStart;
  const metadata: Record<string, string> = {};
  const tensors: SafetensorsTensor[] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') throw fail(`__metadata__ value for ${k} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const where = `${file}: tensor ${name}`;
    if (typeof entry !== 'object' || entry === null) throw new GemmaError(`${where}: entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (typeof dtype !== 'string') throw new GemmaError(`${where}: missing dtype`);
    if (!Array.isArray(shape)) throw new GemmaError(`${where}: missing shape`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !isIndex(offsets[0]) || !isIndex(offsets[1]) || offsets[0] > offsets[1]) {
      throw new GemmaError(`${where}: data_offsets must be [begin, end] with 0 <= begin <= end`);
    }
    const [begin, end] = offsets as [number, number];
    const byteLength = safetensorsByteSize(dtype, shape as number[], where);
    if (end - begin !== byteLength) {
      throw new GemmaError(
        `${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but ${dtype} [${shape.join(', ')}] needs ${byteLength}`,
      );
    }
    if (end > dataSize) {
      throw new GemmaError(
        `${where}: data range ${dataStart + begin}..${dataStart + end} is outside the file (size ${source.size})`,
      );
    }
    tensors.push({ name, dtype, shape: [...(shape as number[])], offset: dataStart + begin, byteLength, source });
  }

  const overlap = findOverlap(tensors);
  if (overlap) throw fail(`tensors ${overlap[0]} and ${overlap[1]} overlap`);
  return { tensors, metadata };
}

export interface SafetensorsTensorSpec {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
}

/**
 * The 8-byte length plus JSON header for tensors stored back to back in the
 * given order, padded with spaces so the data starts 8-byte aligned.
 * Returns the header and each tensor's offset within the data section.
 */
export function encodeSafetensorsHeader(
  tensors: readonly SafetensorsTensorSpec[],
  metadata?: Record<string, string>,
  where = 'safetensors',
): { header: Uint8Array; offsets: number[]; byteLengths: number[]; dataSize: number } {
  // A null-prototype object, so a tensor named "__proto__" is stored like any other.
  const json: Record<string, unknown> = Object.create(null);
  if (metadata && Object.keys(metadata).length > 0) json['__metadata__'] = metadata;
  const offsets: number[] = [];
  const byteLengths: number[] = [];
  let pos = 0;
  for (const t of tensors) {
    if (t.name === '__metadata__' || Object.prototype.hasOwnProperty.call(json, t.name)) {
      throw new GemmaError(`${where}: duplicate or reserved tensor name ${t.name}`);
    }
    const size = safetensorsByteSize(t.dtype, t.shape, `${where}: tensor ${t.name}`);
    json[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [pos, pos + size] };
    offsets.push(pos);
    byteLengths.push(size);
    pos += size;
  }
  const text = new TextEncoder().encode(JSON.stringify(json));
  const padded = Math.ceil(text.length / 8) * 8;
  const header = new Uint8Array(8 + padded).fill(0x20, 8 + text.length);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(text, 8);
  return { header, offsets, byteLengths, dataSize: pos };
}
