/**
 * The threads: the calling thread is thread 0 and `threads − 1` workers join it for each
 * parallel op. An op is announced through a small shared control block (sequence number, op,
 * arena); workers spin on the sequence number between ops (a decode step runs hundreds of short
 * ops back to back) and fall asleep on Atomics.wait after a short while. The calling thread
 * runs its share and then waits (spinning, then asleep) until every worker has reported, so
 * every Backend call stays synchronous. Sleepers announce themselves so that wakers notify
 * only when someone sleeps. Work inside an op is shared out by the kernels themselves (atomic counters,
 * spin barriers; assembly/sync.ts).
 *
 * Failures never leave a thread waiting:
 * - A kernel that throws (a WebAssembly trap) on any thread abandons the op: that thread sets
 *   the abort word of the op's memory, advances the barrier generation and wakes its sleepers,
 *   so the threads waiting at a barrier of that op, and those arriving later, trap too and
 *   report. The first thread to fail claims FAILED; the calling thread waits for every worker,
 *   clears the abort state and throws that thread's error. The pool stays usable.
 * - A worker that stops (process.exit, an uncaught error, terminate()) cannot report, and the
 *   calling thread's event loop, which would deliver the Worker's 'exit' event, is blocked
 *   while it waits. So a watcher thread, idle on its own event loop, holds the other end of a
 *   "lifeline" MessagePort of every worker; a thread's ports close when it ends, and the
 *   watcher then marks the worker dead, abandons the ops of every memory (as above) and
 *   pushes DONE past the count the calling thread waits for. No timeout is involved: a slow
 *   worker is never taken for a dead one. The calling thread throws, and the pool refuses
 *   every later op ("broken") until disposed of.
 */
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { GemmaError } from '../../errors.js';
import type { Arena } from './arena.js';
import type { WasmModule } from './wasm-api.js';
import { WATCHER_SOURCE, WORKER_SOURCE } from './worker-source.js';

/** Kernel exports, indexed by op code. */
export const OPS = ['matmulFloat', 'matmulQuant', 'embed', 'rmsNorm', 'rope', 'geluMul', 'add', 'attention', 'repack',
  'f16Max', 'f16Scale', 'stream'] as const;
export type OpName = typeof OPS[number];

/**
 * Words of the control block (shared with worker-source.ts through workerData). FAILED: 1 + the
 * id of the first thread whose op threw (0: none). FAULT: test hook (Pool.injectFault).
 * DEATHS: workers found dead. Per worker `tid`: FIN + tid, the last sequence number it
 * finished; DEAD + tid, set by the watcher; CODE + tid, 1 + its exit code if it ran its own
 * 'exit' handler (process.exit, uncaught error), 0 if it was terminated.
 */
export const CTRL = {
  SEQ: 0, DONE: 1, SLEEPERS: 2, OP: 3, ARENA: 4, FAILED: 5, MAIN_SLEEPING: 6, FAULT: 7, DEATHS: 8,
  FIN: 64, DEAD: 128, CODE: 192, WORDS: 256,
} as const;
/** Barrier words in the control area of every memory (byte offsets / 4, as in assembly/sync.ts). */
export const BARRIER = { COUNT: 16, GEN: 17, ABORT: 19 } as const;
/** Added to DONE by the watcher when a worker dies: more than any worker count. */
export const DONE_DEAD = 1 << 20;
/** Spins before the calling thread sleeps until the workers are done (as in assembly/sync.ts). */
const SPINS = 20000;
const OP_EXIT = -1, OP_SYNC = -2;
/** After a worker died: how long to wait for the others to leave the op (they trap at their
 *  next barrier, or finish) before reporting anyway. */
const SURVIVOR_WAIT_MS = 10_000;

/** Test hook (Pool.injectFault): what a worker does when it picks up the next op. */
export const FAULT = { THROW: 1, EXIT: 2 } as const;

/** Abandons the op running in the memory viewed by `v` (see the top of this file). */
export function abandon(v: Int32Array): void {
  Atomics.store(v, BARRIER.ABORT, 1);
  Atomics.add(v, BARRIER.GEN, 1);
  Atomics.notify(v, BARRIER.GEN);
}

const firstLine = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e)).split('\n')[0];

export class Pool {
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(CTRL.WORDS * 4));
  private readonly workers: Worker[] = [];
  private readonly ports: MessagePort[] = [];
  private watcher: Worker | undefined;
  private watcherPort: MessagePort | undefined;
  private memories: Arena['memory'][] = [];
  private known = 0;
  private disposed = false;
  /** Why the pool refuses ops (a worker died, or a worker could not take a new memory). */
  private broken: string | undefined;

  private constructor(readonly threads: number) {}

  static async create(module: WasmModule, threads: number, arenas: readonly Arena[]): Promise<Pool> {
    const pool = new Pool(threads);
    pool.known = arenas.length;
    if (threads === 1) return pool;
    const memories = arenas.map((a) => a.memory);
    pool.memories = [...memories];
    // The calling thread passes --input-type=module on to eval'd CommonJS otherwise.
    const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
    const layout = { CTRL, BARRIER, DONE_DEAD, FAULT };
    const lifelines = Array.from({ length: threads - 1 }, () => new MessageChannel());
    const { port1: watchPort, port2: watchPeer } = new MessageChannel();
    const ready: Promise<void>[] = [];
    const started = (w: Worker, what: string) => new Promise<void>((resolve, reject) => {
      w.once('message', () => resolve());
      w.once('error', reject);
      w.once('exit', (code) => reject(new GemmaError(`CPU backend ${what} exited (${code}) while starting`)));
    });
    const watcher = new Worker(WATCHER_SOURCE, {
      eval: true,
      execArgv,
      workerData: { ctrl: pool.ctrl.buffer, layout, lifelines: lifelines.map((l) => l.port1), port: watchPeer, memories },
      transferList: [...lifelines.map((l) => l.port1), watchPeer],
    });
    watcher.unref();
    pool.watcher = watcher;
    pool.watcherPort = watchPort;
    ready.push(started(watcher, 'watcher thread'));
    for (let tid = 1; tid < threads; tid++) {
      const { port1, port2 } = new MessageChannel();
      const life = lifelines[tid - 1].port2;
      const w = new Worker(WORKER_SOURCE, {
        eval: true,
        execArgv,
        workerData: { module, ctrl: pool.ctrl.buffer, layout, port: port2, life, tid, threads, ops: OPS, memories },
        transferList: [port2, life],
      });
      w.unref();
      pool.workers.push(w);
      pool.ports.push(port1);
      ready.push(started(w, `worker ${tid}`));
    }
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
    this.usable();
    if (this.threads === 1) {
      this.known = arenas.length;
      return;
    }
    const fresh = arenas.slice(this.known).map((a) => a.memory);
    // The watcher first: it must be able to abandon ops in a memory before any op runs there.
    for (const m of fresh) this.watcherPort!.postMessage(m);
    for (const port of this.ports) for (const m of fresh) port.postMessage(m);
    this.memories.push(...fresh);
    this.known = arenas.length;
    this.dispatch(OP_SYNC, 0);
    try {
      this.finish(undefined, undefined);
    } catch (e) {
      // A worker without an instance on every memory cannot run later ops.
      this.broken ??= (e as Error).message;
      throw e;
    }
  }

  /** Runs kernel `op` of `arena` (arguments already written) on every thread, or on this one only. */
  run(arena: Arena, op: OpName, parallel = true): void {
    this.usable();
    if (!parallel || this.threads === 1) {
      try {
        arena.kernels[op](0, 1);
      } catch (e) {
        throw new GemmaError(`CPU backend kernel ${op} failed: ${firstLine(e)}`, { cause: e });
      }
      return;
    }
    this.dispatch(OPS.indexOf(op), arena.id);
    let own: unknown;
    try {
      arena.kernels[op](0, this.threads);
    } catch (e) {
      own = e;
      Atomics.compareExchange(this.ctrl, CTRL.FAILED, 0, 1);
      abandon(arena.i32);
    }
    this.finish(arena, own, op);
  }

  /**
   * Test hook: worker `tid` fails in the next op it picks up, before running its kernel (THROW:
   * as a trap would; EXIT: process.exit(70)), while the other threads run theirs.
   */
  injectFault(tid: number, kind: number): void {
    Atomics.store(this.ctrl, CTRL.FAULT, tid * 16 + kind);
  }

  private usable(): void {
    if (this.disposed) throw new GemmaError('the CPU backend was disposed');
    if (!this.broken && Atomics.load(this.ctrl, CTRL.DEATHS) > 0) this.breakDown();
    if (this.broken) throw new GemmaError(`the CPU backend is broken (${this.broken}): dispose of it and create a new one`);
  }

  private dispatch(op: number, arena: number): void {
    const c = this.ctrl;
    c[CTRL.DONE] = 0;
    c[CTRL.OP] = op;
    c[CTRL.ARENA] = arena;
    c[CTRL.FAILED] = 0;
    Atomics.add(c, CTRL.SEQ, 1);
    if (Atomics.load(c, CTRL.SLEEPERS) > 0) Atomics.notify(c, CTRL.SEQ);
  }

  /** Waits for the workers after an op (or OP_SYNC), then turns any failure into the error. */
  private finish(arena: Arena | undefined, own: unknown, op?: OpName): void {
    const c = this.ctrl;
    this.waitWorkers();
    const what = op ?? 'the setup of a new memory';
    if (Atomics.load(c, CTRL.DEATHS) > 0) {
      const why = this.breakDown();
      this.awaitSurvivors();
      throw new GemmaError(`CPU backend ${why} during ${what}; the backend is broken: dispose of it and create a new one`);
    }
    const failed = c[CTRL.FAILED];
    if (!failed) return;
    // Every worker has left the op: the barrier state can be reset for the next one.
    if (arena) {
      Atomics.store(arena.i32, BARRIER.COUNT, 0);
      Atomics.store(arena.i32, BARRIER.ABORT, 0);
    }
    let cause = own, summary = firstLine(own);
    if (failed > 1) {
      // The worker posted its error's stack before reporting done.
      const stack = String(receiveMessageOnPort(this.ports[failed - 2])?.message ?? 'unknown error');
      summary = stack.split('\n')[0];
      cause = Object.assign(new Error(summary), { stack });
    }
    const where = failed === 1 ? 'the calling thread' : `worker ${failed - 1}`;
    throw new GemmaError(`CPU backend ${op ? `kernel ${op}` : 'worker setup'} failed on ${where}: ${summary}`, { cause });
  }

  private waitWorkers(): void {
    const c = this.ctrl, want = this.threads - 1;
    let spins = 0;
    for (let d = Atomics.load(c, CTRL.DONE); d < want; d = Atomics.load(c, CTRL.DONE)) {
      if (++spins < SPINS) continue;
      // The watcher pushes DONE past `want` when a worker dies; a death before this op's
      // dispatch reset DONE is seen here (the watcher counts the death before touching DONE).
      if (Atomics.load(c, CTRL.DEATHS) > 0) return;
      Atomics.store(c, CTRL.MAIN_SLEEPING, 1);
      Atomics.wait(c, CTRL.DONE, d);
      Atomics.store(c, CTRL.MAIN_SLEEPING, 0);
    }
  }

  /** After a death: waits (bounded) until every live worker has finished the current op. */
  private awaitSurvivors(): void {
    const c = this.ctrl, seq = Atomics.load(c, CTRL.SEQ), end = performance.now() + SURVIVOR_WAIT_MS;
    const pending = () => this.workers.some((_, i) => !Atomics.load(c, CTRL.DEAD + i + 1) && Atomics.load(c, CTRL.FIN + i + 1) !== seq);
    while (pending() && performance.now() < end) Atomics.wait(c, CTRL.DONE, Atomics.load(c, CTRL.DONE), 5);
  }

  /** Marks the pool broken after a worker died and says which one. */
  private breakDown(): string {
    const c = this.ctrl;
    const dead = this.workers.map((_, i) => i + 1).filter((tid) => Atomics.load(c, CTRL.DEAD + tid));
    const why = dead.map((tid) => {
      const code = Atomics.load(c, CTRL.CODE + tid);
      return `worker ${tid} ${code ? `exited with code ${code - 1}` : 'was terminated'}`;
    }).join(', ');
    // The watcher abandoned the ops of every memory it knew; make sure of it for all of them.
    for (const m of this.memories) abandon(new Int32Array(m.buffer, 0, 32));
    this.broken ??= why;
    return why;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    // The watcher first: the workers' exits below are not deaths.
    await this.watcher?.terminate();
    this.watcherPort?.close();
    if (this.workers.length) this.dispatch(OP_EXIT, 0);
    await Promise.all(this.workers.map((w) => w.terminate()));
    for (const p of this.ports) p.close();
  }
}
