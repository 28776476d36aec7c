import { open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { constants as bufferConstants } from 'node:buffer';
import { GemmaError } from '../errors.js';
import { checkReadRange, type ByteSource } from './source.js';

/** Node caps a single fs read at 2 GiB - 1 bytes, so longer reads are split. */
const MAX_READ_CHUNK = 1 << 30;

/** Turns a Node fs error into a GemmaError naming the path. */
export function fileError(path: string, err: unknown): GemmaError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return new GemmaError(`no such file: ${path}`, { cause: err });
  if (code === 'EISDIR') return new GemmaError(`${path}: is a directory, expected a file`, { cause: err });
  if (code === 'EACCES' || code === 'EPERM') return new GemmaError(`${path}: permission denied`, { cause: err });
  const detail = err instanceof Error ? err.message : String(err);
  return new GemmaError(`${path}: ${detail}`, { cause: err });
}

/**
 * Opens a file for random-access reads. Each read goes to the file at an
 * explicit position, so files larger than memory (and than 2 GiB) work.
 */
export async function openFileSource(path: string): Promise<ByteSource> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw fileError(path, err);
  }
  let size: number;
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new GemmaError(`${path}: not a regular file`);
    size = st.size;
  } catch (err) {
    await handle.close();
    throw err instanceof GemmaError ? err : fileError(path, err);
  }

  const name = basename(path);
  let closed = false;
  return {
    name,
    size,
    async read(offset: number, length: number): Promise<Uint8Array> {
      if (closed) throw new GemmaError(`${name}: read after close`);
      checkReadRange(name, size, offset, length);
      if (length > bufferConstants.MAX_LENGTH) {
        throw new GemmaError(`${name}: cannot read ${length} bytes at once (limit ${bufferConstants.MAX_LENGTH})`);
      }
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const want = Math.min(length - done, MAX_READ_CHUNK);
        let got: number;
        try {
          ({ bytesRead: got } = await handle.read(out, done, want, offset + done));
        } catch (err) {
          throw fileError(path, err);
        }
        if (got === 0) {
          throw new GemmaError(`${name}: truncated: need bytes ${offset}..${offset + length}, file ended at ${offset + done}`);
        }
        done += got;
      }
      return out;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
}
