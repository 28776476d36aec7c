/**
 * Where chunks are encoded: on the calling thread, or on worker threads (K-quants take about
 * 0.2–0.5 µs per element in JavaScript, so a 2B model is minutes of work per core). Workers run
 * worker.ts; when this module runs from TypeScript sources (tests, tsx) they load it through
 * tsx's loader, from the compiled package they load worker.js directly.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { GemmaError } from '../errors.js';
import { encodeChunk, type ChunkJob } from './encode.js';

export interface ChunkEncoder {
  readonly threads: number;
  encode(job: ChunkJob): Promise<Uint8Array>;
  close(): Promise<void>;
}

export function inProcessEncoder(): ChunkEncoder {
  return {
    threads: 1,
    encode: async (job) => encodeChunk(job),
    close: async () => undefined,
  };
}

function workerProgram(): string {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) {
    return `import(${JSON.stringify(new URL('./worker.js', here).href)});`;
  }
  const require = createRequire(here);
  const api = pathToFileURL(path.join(path.dirname(require.resolve('tsx/package.json')), 'dist', 'esm', 'api', 'index.mjs')).href;
  const worker = new URL('./worker.ts', here).href;
  return `import(${JSON.stringify(api)}).then(({ register }) => { register(); return import(${JSON.stringify(worker)}); });`;
}

interface Pending { resolve: (b: Uint8Array) => void; reject: (e: Error) => void }

/** `threads` workers; each job goes to the worker with the fewest jobs queued. */
export async function workerEncoder(threads: number): Promise<ChunkEncoder> {
  const n = Math.max(1, Math.min(threads, 64));
  const program = workerProgram();
  const workers: { w: Worker; queued: number }[] = [];
  const pending = new Map<number, Pending & { slot: { queued: number } }>();
  let nextId = 0;
  let failure: Error | undefined;
  const failAll = (e: Error) => {
    failure ??= e;
    for (const p of pending.values()) p.reject(failure);
    pending.clear();
  };
  for (let i = 0; i < n; i++) {
    const w = new Worker(program, { eval: true });
    const slot = { w, queued: 0 };
    w.on('message', (m: { id: number; out?: Uint8Array; error?: string; gemma?: boolean }) => {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      p.slot.queued--;
      if (m.error !== undefined) p.reject(m.gemma ? new GemmaError(m.error) : new Error(m.error));
      else p.resolve(m.out!);
    });
    w.on('error', (e) => failAll(new GemmaError(`conversion worker failed: ${e.message}`)));
    w.on('exit', (code) => { if (pending.size > 0) failAll(new GemmaError(`conversion worker exited (${code})`)); });
    workers.push(slot);
  }
  return {
    threads: n,
    encode(job: ChunkJob): Promise<Uint8Array> {
      if (failure) return Promise.reject(failure);
      const slot = workers.reduce((a, b) => (b.queued < a.queued ? b : a));
      const id = nextId++;
      slot.queued++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject, slot });
        // Transfer the chunk's own buffer; a view into a larger one is copied first.
        const own = job.bytes.byteOffset === 0 && job.bytes.byteLength === job.bytes.buffer.byteLength;
        const bytes = own ? job.bytes : job.bytes.slice();
        slot.w.postMessage({ id, job: { ...job, bytes } }, [bytes.buffer as ArrayBuffer]);
      });
    },
    async close(): Promise<void> {
      await Promise.all(workers.map((s) => s.w.terminate()));
    },
  };
}
