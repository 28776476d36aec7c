/**
 * The threads: the calling thread is thread 0 and `threads − 1` workers join it for each
 * parallel op. An op is announced through a small shared control block (sequence number, op,
 * arena); workers spin on the sequence number between ops (a decode step runs hundreds of short
 * ops back to back) and fall asleep on Atomics.wait after a short while. The calling thread
 * runs its share and then waits (spinning, then asleep) until every worker has reported, so
 * every Backend call stays synchronous. Sleepers announce themselves so that wakers notify
 * only when someone sleeps. Work inside an op is shared out by the kernels themselves (atomic counters,
 * spin barriers; assembly/sync.ts).
 */
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { GemmaError } from '../../errors.js';
import type { Arena } from './arena.js';
import type { WasmModule } from './wasm-api.js';
import { WORKER_SOURCE } from './worker-source.js';

/** Kernel exports, indexed by op code. */
export const OPS = ['matmulFloat', 'matmulQuant', 'embed', 'rmsNorm', 'rope', 'geluMul', 'add', 'attention', 'repack',
  'f16Max', 'f16Scale', 'stream'] as const;
export type OpName = typeof OPS[number];

const SEQ = 0, DONE = 1, SLEEPERS = 2, OP = 3, ARENA = 4, ERROR = 5, MAIN_SLEEPING = 6;
/** Spins before the calling thread sleeps until the workers are done (as in assembly/sync.ts). */
const SPINS = 20000;
const OP_EXIT = -1, OP_SYNC = -2;

export class Pool {
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(64));
  private readonly workers: Worker[] = [];
  private readonly ports: MessagePort[] = [];
  private known = 0;
  private disposed = false;

  private constructor(readonly threads: number) {}

  static async create(module: WasmModule, threads: number, arenas: readonly Arena[]): Promise<Pool> {
    const pool = new Pool(threads);
    const ready: Promise<void>[] = [];
    for (let tid = 1; tid < threads; tid++) {
      const { port1, port2 } = new MessageChannel();
      const w = new Worker(WORKER_SOURCE, {
        eval: true,
        // The worker source is a CommonJS script: a parent started with --input-type=module
        // would otherwise pass that flag on and make the eval'd code an ES module.
        execArgv: process.execArgv.filter((a) => !a.startsWith('--input-type')),
        workerData: { module, ctrl: pool.ctrl.buffer, port: port2, tid, threads, ops: OPS, memories: arenas.map((a) => a.memory) },
        transferList: [port2],
      });
      w.unref();
      pool.workers.push(w);
      pool.ports.push(port1);
      ready.push(new Promise((resolve, reject) => {
        w.once('message', () => resolve());
        w.once('error', reject);
        w.once('exit', (code) => reject(new GemmaError(`CPU backend worker ${tid} exited (${code}) while starting`)));
      }));
    }
    pool.known = arenas.length;
    try {
      await Promise.all(ready);
    } catch (e) {
      await pool.dispose();
      throw e;
    }
    return pool;
  }

  /** Gives the workers a kernel instance on every arena created since the last call. */
  sync(arenas: readonly Arena[]): void {
    if (arenas.length === this.known) return;
    for (const port of this.ports) for (const a of arenas.slice(this.known)) port.postMessage(a.memory);
    this.known = arenas.length;
    this.dispatch(OP_SYNC, 0);
    this.waitWorkers();
  }

  /** Runs kernel `op` of `arena` (arguments already written) on every thread, or on this one only. */
  run(arena: Arena, op: OpName, parallel = true): void {
    if (this.disposed) throw new GemmaError('the CPU backend was disposed');
    if (!parallel || this.threads === 1) {
      arena.kernels[op](0, 1);
      return;
    }
    this.dispatch(OPS.indexOf(op), arena.id);
    try {
      arena.kernels[op](0, this.threads);
    } finally {
      this.waitWorkers();
    }
  }

  private dispatch(op: number, arena: number): void {
    const c = this.ctrl;
    c[DONE] = 0;
    c[OP] = op;
    c[ARENA] = arena;
    c[ERROR] = 0;
    Atomics.add(c, SEQ, 1);
    if (Atomics.load(c, SLEEPERS) > 0) Atomics.notify(c, SEQ);
  }

  private waitWorkers(): void {
    const c = this.ctrl, want = this.threads - 1;
    let spins = 0;
    for (let d = Atomics.load(c, DONE); d < want; d = Atomics.load(c, DONE)) {
      if (++spins < SPINS) continue;
      Atomics.store(c, MAIN_SLEEPING, 1);
      Atomics.wait(c, DONE, d);
      Atomics.store(c, MAIN_SLEEPING, 0);
    }
    if (c[ERROR]) {
      const msg = receiveMessageOnPort(this.ports[c[ERROR] - 1])?.message;
      throw new GemmaError(`CPU backend worker ${c[ERROR]} failed: ${msg ?? 'unknown error'}`);
    }
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    if (this.workers.length) this.dispatch(OP_EXIT, 0);
    await Promise.all(this.workers.map((w) => w.terminate()));
    for (const p of this.ports) p.close();
  }
}
