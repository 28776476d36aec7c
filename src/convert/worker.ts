/**
 * Worker thread of a conversion: encodes the chunks the calling thread posts (encode.ts) and
 * posts the bytes back, transferring both buffers instead of copying them.
 */
import { parentPort } from 'node:worker_threads';
import { encodeChunk, type ChunkJob } from './encode.js';

const port = parentPort;
if (!port) throw new Error('convert worker started outside a worker thread');
port.on('message', (m: { id: number; job: ChunkJob }) => {
  try {
    const out = encodeChunk(m.job);
    // A fresh buffer of exactly the output (F32 output may be a view of the input).
    const owned = out.byteOffset === 0 && out.byteLength === out.buffer.byteLength ? out : out.slice();
    port.postMessage({ id: m.id, out: owned }, [owned.buffer as ArrayBuffer]);
  } catch (e) {
    port.postMessage({ id: m.id, error: e instanceof Error ? e.message : String(e), gemma: (e as Error)?.name === 'GemmaError' });
  }
});
