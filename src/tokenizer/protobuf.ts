/**
 * The small part of the protobuf wire format (protobuf.dev/programming-guides/encoding) that
 * SentencePiece's ModelProto needs: varints, 32-bit floats, length-delimited fields.
 */
import { GemmaError } from '../errors.js';

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Out = new TextEncoder();

export interface Field {
  field: number;
  wire: number;
  /** Varint value (low 53 bits, two's complement for negatives read as int32 via `| 0`). */
  varint: number;
  /** Byte range of a length-delimited or fixed-size payload. */
  start: number;
  end: number;
}

export class ProtoReader {
  private pos: number;
  private readonly view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    start = 0,
    private readonly end = bytes.length,
    private readonly what = 'protobuf',
  ) {
    this.pos = start;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private corrupt(problem: string): never {
    throw new GemmaError(`${this.what} is corrupt: ${problem} at byte ${this.pos}`);
  }

  private readVarint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.corrupt('truncated varint');
      const b = this.bytes[this.pos++]!;
      // Bits above 2^53 are dropped; int32 fields only need the low 32 (read with `| 0`).
      if (scale < 2 ** 53) result += (b & 0x7f) * scale;
      scale *= 128;
      if ((b & 0x80) === 0) return result;
    }
    this.corrupt('varint longer than 10 bytes');
  }

  /** The next field, or undefined at the end of the message. */
  next(): Field | undefined {
    if (this.pos >= this.end) return undefined;
    const key = this.readVarint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (field === 0) this.corrupt('field number 0');
    const f: Field = { field, wire, varint: 0, start: this.pos, end: this.pos };
    switch (wire) {
      case WIRE_VARINT:
        f.varint = this.readVarint();
        break;
      case WIRE_I64:
        f.end = this.pos += 8;
        break;
      case WIRE_LEN: {
        const len = this.readVarint();
        f.start = this.pos;
        f.end = this.pos += len;
        break;
      }
      case WIRE_I32:
        f.end = this.pos += 4;
        break;
      default:
        this.corrupt(`unsupported wire type ${wire}`);
    }
    if (this.pos > this.end) this.corrupt(`field ${field} runs past the end`);
    return f;
  }

  string(f: Field): string {
    if (f.wire !== WIRE_LEN) this.corrupt(`field ${f.field} is not a string`);
    try {
      return utf8.decode(this.bytes.subarray(f.start, f.end));
    } catch {
      this.corrupt(`field ${f.field} is not valid UTF-8`);
    }
  }

  float(f: Field): number {
    if (f.wire !== WIRE_I32) this.corrupt(`field ${f.field} is not a 32-bit float`);
    return this.view.getFloat32(f.start, true);
  }

  int32(f: Field): number {
    if (f.wire !== WIRE_VARINT) this.corrupt(`field ${f.field} is not a varint`);
    return Number(BigInt.asIntN(32, BigInt(f.varint)));
  }

  message(f: Field, what = this.what): ProtoReader {
    if (f.wire !== WIRE_LEN) this.corrupt(`field ${f.field} is not a message`);
    return new ProtoReader(this.bytes, f.start, f.end, what);
  }
}

export class ProtoWriter {
  private buf: Uint8Array;
  private len = 0;

  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
  }

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  private varint(v: number): void {
    this.room(10);
    if (v >= 0 && v <= 0x7fffffff) {
      while (v > 0x7f) {
        this.buf[this.len++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      this.buf[this.len++] = v;
      return;
    }
    // Negative int32 values are sign-extended to 64 bits: ten bytes.
    let x = v < 0 ? BigInt.asUintN(64, BigInt(v)) : BigInt(v);
    do {
      const b = Number(x & 0x7fn);
      x >>= 7n;
      this.buf[this.len++] = x > 0n ? b | 0x80 : b;
    } while (x > 0n);
  }

  private key(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  int(field: number, v: number): this {
    this.key(field, WIRE_VARINT);
    this.varint(v);
    return this;
  }

  bool(field: number, v: boolean): this {
    return this.int(field, v ? 1 : 0);
  }

  float(field: number, v: number): this {
    this.key(field, WIRE_I32);
    this.room(4);
    new DataView(this.buf.buffer).setFloat32(this.len, v, true);
    this.len += 4;
    return this;
  }

  bytes(field: number, b: Uint8Array): this {
    this.key(field, WIRE_LEN);
    this.varint(b.length);
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, utf8Out.encode(s));
  }

  message(field: number, m: ProtoWriter): this {
    return this.bytes(field, m.finish());
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}
