import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { GemmaError } from '../errors.js';
import { fileError } from './file-source.js';

/** Node caps a single fs write at 2 GiB - 1 bytes, so longer writes are split. */
const MAX_WRITE_CHUNK = 1 << 30;

export interface FileSink {
  /** Bytes written so far. */
  readonly position: number;
  write(bytes: Uint8Array): Promise<void>;
}

async function writeAll(fh: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, done, Math.min(bytes.length - done, MAX_WRITE_CHUNK), position + done);
    if (bytesWritten <= 0) throw new GemmaError('write made no progress');
    done += bytesWritten;
  }
}

/**
 * Writes `path + ".tmp"` through `produce`, then renames it to `path`; on any
 * error the temporary file is removed, so no half-written output is left behind.
 */
export async function writeFileAtomically(path: string, produce: (sink: FileSink) => Promise<void>): Promise<void> {
  const tmp = `${path}.tmp`;
  let fh: FileHandle;
  try {
    fh = await open(tmp, 'w');
  } catch (err) {
    throw fileError(tmp, err);
  }
  let position = 0;
  const sink: FileSink = {
    get position() {
      return position;
    },
    async write(bytes: Uint8Array) {
      try {
        await writeAll(fh, bytes, position);
      } catch (err) {
        throw err instanceof GemmaError ? err : fileError(tmp, err);
      }
      position += bytes.length;
    },
  };
  try {
    await produce(sink);
    await fh.close();
    await rename(tmp, path);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err instanceof GemmaError ? err : fileError(path, err);
  }
}
