/**
 * Decoding of weight rows to float32 for the reference backend: the plain, obviously-correct
 * path that every fast kernel is compared with.
 */
import { GgmlType, ggmlTypeName, GGML_TYPE_INFO } from '../../formats/ggml-types.js';
import { bf16ArrayToF32, f16ArrayToF32 } from '../../formats/dtype.js';
import { GemmaError } from '../../errors.js';
import { dequantize, QUANT_FORMATS } from '../../quant/index.js';

/** Decodes `count` consecutive elements of `type` starting at byte `byteOffset` of `bytes` into `out`. */
export type RowDecoder = (bytes: Uint8Array, byteOffset: number, count: number, out: Float32Array) => void;

const decoders = new Map<GgmlType, RowDecoder>([
  [GgmlType.F32, (b, off, n, out) => {
    if ((b.byteOffset + off) % 4 === 0) out.set(new Float32Array(b.buffer, b.byteOffset + off, n));
    else new Uint8Array(out.buffer, out.byteOffset, n * 4).set(b.subarray(off, off + n * 4));
  }],
  [GgmlType.F16, (b, off, n, out) => f16ArrayToF32(u16View(b, off, n), out)],
  [GgmlType.BF16, (b, off, n, out) => bf16ArrayToF32(u16View(b, off, n), out)],
  ...[...QUANT_FORMATS.keys()].map((type): [GgmlType, RowDecoder] => [type, (b, off, n, out) => dequantize(type, b, off, n, out)]),
]);

function u16View(b: Uint8Array, off: number, n: number): Uint16Array {
  if ((b.byteOffset + off) % 2 === 0) return new Uint16Array(b.buffer, b.byteOffset + off, n);
  return new Uint16Array(b.slice(off, off + n * 2).buffer);
}

/** Lets the quantized formats add their dequantizers (block layouts as GGUF defines them). */
export function registerRowDecoder(type: GgmlType, decode: RowDecoder): void {
  decoders.set(type, decode);
}

export function hasRowDecoder(type: GgmlType): boolean {
  return decoders.has(type);
}

export function rowDecoder(type: GgmlType): RowDecoder {
  const d = decoders.get(type);
  if (!d) throw new GemmaError(`the reference backend cannot decode weights of type ${ggmlTypeName(type)}`);
  return d;
}

/** Bytes taken by one row of `cols` elements of `type`. */
export function rowBytes(type: GgmlType, cols: number): number {
  const info = GGML_TYPE_INFO[type];
  return (cols / info.blockSize) * info.typeSize;
}
