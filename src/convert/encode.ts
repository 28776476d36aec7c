/**
 * One unit of conversion work: a run of rows of one tensor, decoded from the source type to
 * float32 and encoded to the target type. Pure (no I/O), so it runs the same on the calling
 * thread and in a worker (worker.ts).
 */
import { GemmaError } from '../errors.js';
import { bf16ArrayToF32, f16ArrayToF32, f32ArrayToBf16, f32ArrayToF16 } from '../formats/dtype.js';
import { GgmlType, ggmlTypeName } from '../formats/ggml-types.js';
import { dequantize, QUANT_FORMATS, quantize } from '../quant/index.js';

export interface ChunkJob {
  /** Tensor name, for error messages. */
  name: string;
  srcType: GgmlType;
  dstType: GgmlType;
  /** Elements in the chunk (whole rows). */
  count: number;
  /** Store fround(1 + w): a Hugging Face norm weight going into GGUF. */
  addOne: boolean;
  bytes: Uint8Array;
}

function u16(bytes: Uint8Array, n: number): Uint16Array {
  if (bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, n);
  return new Uint16Array(bytes.slice(0, n * 2).buffer);
}

/** The chunk's values as float32. */
export function decodeChunk(type: GgmlType, bytes: Uint8Array, count: number): Float32Array {
  const out = new Float32Array(count);
  if (type === GgmlType.F32) new Uint8Array(out.buffer).set(bytes.subarray(0, count * 4));
  else if (type === GgmlType.F16) f16ArrayToF32(u16(bytes, count), out);
  else if (type === GgmlType.BF16) bf16ArrayToF32(u16(bytes, count), out);
  else if (QUANT_FORMATS.has(type)) dequantize(type, bytes, 0, count, out);
  else throw new GemmaError(`cannot decode tensors of type ${ggmlTypeName(type)}`);
  return out;
}

/** float32 values in `type`'s storage layout; quantized types use llama.cpp's reference quantizers. */
export function encodeValues(type: GgmlType, x: Float32Array, name: string): Uint8Array {
  if (type === GgmlType.F32) return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  if (type === GgmlType.F16 || type === GgmlType.BF16) {
    const o = new Uint16Array(x.length);
    if (type === GgmlType.F16) f32ArrayToF16(x, o);
    else f32ArrayToBf16(x, o);
    return new Uint8Array(o.buffer);
  }
  return quantize(type, x, name);
}

export function encodeChunk(job: ChunkJob): Uint8Array {
  const x = decodeChunk(job.srcType, job.bytes, job.count);
  if (job.addOne) for (let i = 0; i < x.length; i++) x[i] = Math.fround(1 + x[i]!);
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) throw new GemmaError(`tensor ${job.name}: value ${x[i]} is not finite; the checkpoint is corrupt`);
  }
  return encodeValues(job.dstType, x, job.name);
}
