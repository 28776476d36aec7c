import { GemmaError } from '../errors.js';

/**
 * Random access to the bytes of one file (or an in-memory copy of it).
 * Model files are 5–17 GB, so readers fetch only the ranges they need and
 * never ask for the whole file at once.
 */
export interface ByteSource {
  /** Short name used in error messages, e.g. "model.gguf". */
  readonly name: string;
  readonly size: number;
  /**
   * Exactly `length` bytes starting at `offset`. The result may share memory
   * with the source (for in-memory sources); callers must not modify it.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** Throws unless `offset..offset+length` is a valid byte range of a file of `size` bytes. */
export function checkReadRange(name: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new GemmaError(`${name}: invalid read of ${length} bytes at offset ${offset}`);
  }
  if (offset + length > size) {
    throw new GemmaError(`${name}: truncated: need bytes ${offset}..${offset + length}, file has ${size}`);
  }
}

/** A ByteSource over bytes already in memory (tests, browser uploads, fetched files). */
export function bufferSource(bytes: Uint8Array, name = 'buffer'): ByteSource {
  let closed = false;
  return {
    name,
    size: bytes.length,
    async read(offset: number, length: number): Promise<Uint8Array> {
      if (closed) throw new GemmaError(`${name}: read after close`);
      checkReadRange(name, bytes.length, offset, length);
      return bytes.subarray(offset, offset + length);
    },
    async close(): Promise<void> {
      closed = true;
    },
  };
}

/** Names of two byte ranges that overlap (empty ranges never do), or undefined. */
export function findOverlap(ranges: readonly { name: string; offset: number; byteLength: number }[]): [string, string] | undefined {
  const sorted = ranges.filter((r) => r.byteLength > 0).sort((a, b) => a.offset - b.offset);
  let furthest = sorted[0];
  for (const cur of sorted.slice(1)) {
    if (cur.offset < furthest!.offset + furthest!.byteLength) return [furthest!.name, cur.name];
    if (cur.offset + cur.byteLength > furthest!.offset + furthest!.byteLength) furthest = cur;
  }
  return undefined;
}
